package pop3client

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/izyware/izypop3/core/pop3"
)

// MaxWindow is the largest number of commands RetrEach and DeleEach keep in
// flight. The commands are small; the bound keeps a client from queueing an
// unbounded amount of reply data in front of itself.
const MaxWindow = 256

// RetrFunc handles one message of RetrEach. For a positive reply, body is
// the message (streamed, dot-unstuffed, CRLF line ends, as Retr returns it)
// and err is nil; body is valid only until RetrFunc returns, and what is not
// read of it is read and discarded then. For a negative reply body is nil
// and err is the *pop3.Error. A read error of body other than io.EOF is
// fatal for the client (see Retr).
//
// A non-nil return value stops RetrEach: no more RETR commands are sent,
// the replies of those already sent are read and discarded, and RetrEach
// returns that value with the client still usable (unless the error came
// from the connection).
type RetrFunc func(num int, body io.Reader, err error) error

// RetrEach retrieves the messages nums in order and calls fn for each.
//
// With window > 1 it pipelines (RFC 2449 §6.6 PIPELINING): up to window
// RETR commands are in flight, the next one is written as soon as a reply
// has been read, so the server streams one message after the other without
// a round trip in between. Use window 1 for a server that does not
// advertise PIPELINING (RFC 2449 §6.6: a client MUST NOT pipeline then).
// window is capped at MaxWindow.
//
// The commands are written in the client's goroutine between replies, a
// few octets each; the server keeps reading them while it writes (RFC 2449
// §6.6 requires that of a pipelining server), so this cannot deadlock.
func (c *Client) RetrEach(nums []int, window int, fn RetrFunc) error {
	for _, n := range nums {
		if err := checkNum(n); err != nil {
			return err
		}
	}
	if err := c.ready(); err != nil {
		return err
	}
	window = clampWindow(window)
	sent := 0
	var stop error
	for i := range nums {
		if stop == nil {
			if err := c.sendAhead(nums, &sent, i+window, "RETR "); err != nil {
				return err
			}
		}
		if i >= sent {
			break // stopped: nothing more in flight
		}
		_, err := c.readStatus()
		if err != nil {
			var pe *pop3.Error
			if !errors.As(err, &pe) {
				return err
			}
			if stop == nil {
				stop = fn(nums[i], nil, err)
			}
			continue
		}
		d := c.newDataReader()
		if stop == nil {
			stop = fn(nums[i], d, nil)
		}
		if err := d.Close(); err != nil {
			return err
		}
	}
	return stop
}

// DeleEach marks the messages nums with DELE, pipelined like RetrEach
// (window 1 for a server without PIPELINING). It returns one error per
// message (nil: marked; else the *pop3.Error of its reply), and a fatal
// error if the connection failed; then the per-message errors are
// incomplete and nothing will be deleted (there will be no QUIT).
func (c *Client) DeleEach(nums []int, window int) ([]error, error) {
	for _, n := range nums {
		if err := checkNum(n); err != nil {
			return nil, err
		}
	}
	if err := c.ready(); err != nil {
		return nil, err
	}
	window = clampWindow(window)
	errs := make([]error, len(nums))
	sent := 0
	for i := range nums {
		if err := c.sendAhead(nums, &sent, i+window, "DELE "); err != nil {
			return errs, err
		}
		_, err := c.readStatus()
		if err != nil {
			var pe *pop3.Error
			if !errors.As(err, &pe) {
				return errs, err
			}
			errs[i] = err
		}
	}
	return errs, nil
}

func clampWindow(w int) int {
	if w < 1 {
		return 1
	}
	if w > MaxWindow {
		return MaxWindow
	}
	return w
}

// sendAhead writes the commands verb+nums[*sent] up to index upTo
// (exclusive) and flushes them in one write.
func (c *Client) sendAhead(nums []int, sent *int, upTo int, verb string) error {
	if upTo > len(nums) {
		upTo = len(nums)
	}
	if *sent >= upTo {
		return nil
	}
	c.setWriteDeadline()
	for ; *sent < upTo; *sent++ {
		line := verb + strconv.Itoa(nums[*sent])
		c.debugf("C: %s", line)
		c.bw.WriteString(line)
		c.bw.WriteString("\r\n")
	}
	if err := c.bw.Flush(); err != nil {
		return c.fail(fmt.Errorf("pop3client: write: %w", err))
	}
	return nil
}
