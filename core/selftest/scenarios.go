package selftest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3client"
	"github.com/izyware/izypop3/sdk"
)

// badLogin: a wrong password is answered -ERR [AUTH] (RFC 3206 §5), and the
// right one then works on the same connection.
func badLogin(ctx context.Context, e *env, mailbox string) error {
	c, done, err := e.dial(ctx, e.addr)
	if err != nil {
		return err
	}
	defer done()
	err = c.Login(mailbox, e.password+"-wrong")
	if err == nil {
		return errors.New("a wrong password was accepted")
	}
	var pe *pop3.Error
	if !errors.As(err, &pe) {
		return fmt.Errorf("wrong password: %w", err)
	}
	if pe.Code != pop3.CodeAuth {
		return fmt.Errorf("wrong password answered %q, want -ERR [AUTH]", pe.Line())
	}
	if err := c.Login(mailbox, e.password); err != nil {
		return fmt.Errorf("right password after a wrong one: %w", err)
	}
	return c.Quit()
}

// listAndQuit: STAT, LIST and UIDL agree with each other and with the
// store; QUIT without DELE changes nothing.
func listAndQuit(ctx context.Context, e *env, mailbox string) error {
	items, err := e.maildrop(ctx, mailbox)
	if err != nil {
		return err
	}
	before, err := e.snapshot(ctx, mailbox)
	if err != nil {
		return err
	}
	c, done, err := e.session(ctx, e.addr, mailbox)
	if err != nil {
		return err
	}
	defer done()
	count, total, err := c.Stat()
	if err != nil {
		return fmt.Errorf("STAT: %w", err)
	}
	list, err := c.List()
	if err != nil {
		return fmt.Errorf("LIST: %w", err)
	}
	uids, err := c.Uidl()
	if err != nil {
		return fmt.Errorf("UIDL: %w", err)
	}
	if count != len(items) || len(list) != len(items) || len(uids) != len(items) {
		return fmt.Errorf("STAT says %d messages, LIST %d, UIDL %d, the store has %d unread", count, len(list), len(uids), len(items))
	}
	var sum int64
	for i, it := range items {
		n := i + 1
		if list[i].Num != n || uids[i].Num != n {
			return fmt.Errorf("line %d of LIST/UIDL numbers message %d/%d", n, list[i].Num, uids[i].Num)
		}
		if uids[i].UID != it.UID {
			return fmt.Errorf("UIDL of message %d is %q, the store's item is %q", n, uids[i].UID, it.UID)
		}
		if list[i].Size != it.wireSize {
			return fmt.Errorf("LIST size of message %d is %d, the store's wire size is %d", n, list[i].Size, it.wireSize)
		}
		one, err := c.ListOne(n)
		if err != nil || one != list[i] {
			return fmt.Errorf("LIST %d = %v, %v; LIST gave %v", n, one, err, list[i])
		}
		sum += list[i].Size
	}
	if sum != total {
		return fmt.Errorf("STAT total %d octets, LIST sizes add up to %d", total, sum)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	after, err := e.snapshot(ctx, mailbox)
	if err != nil {
		return err
	}
	if after != before {
		return errors.New("QUIT without DELE changed the store")
	}
	return nil
}

// pop3Failed: in queue mode a session that RETRs a message and ends without
// QUIT leaves that message tagged pop3failed, and the others unread.
func pop3Failed(ctx context.Context, e *env, mailbox string) error {
	items, err := e.maildrop(ctx, mailbox)
	if err != nil {
		return err
	}
	c, done, err := e.session(ctx, e.queue, mailbox)
	if err != nil {
		return err
	}
	defer done()
	r, err := c.Retr(1)
	if err != nil {
		return fmt.Errorf("RETR 1: %w", err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("RETR 1: %w", err)
	}
	// Drop the connection without QUIT.
	c.Close()

	deadline := time.Now().Add(e.opts.Timeout)
	for {
		tag, err := e.tagOf(ctx, mailbox, items[0].UID)
		if err != nil {
			return err
		}
		if tag == sdk.TagPOP3Failed {
			break
		}
		if tag != sdk.TagUnread || time.Now().After(deadline) {
			return fmt.Errorf("retrieved message is tagged %q after the dropped session, want %q", tag, sdk.TagPOP3Failed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
	for _, it := range items[1:] {
		tag, err := e.tagOf(ctx, mailbox, it.UID)
		if err != nil {
			return err
		}
		if tag != sdk.TagUnread {
			return fmt.Errorf("message %s that was not retrieved is tagged %q", it.UID, tag)
		}
	}
	return nil
}

// retrSuccess: RETR of every message gives the store's octets with CRLF
// line ends, and exactly as many octets as LIST states.
func retrSuccess(ctx context.Context, e *env, mailbox string) error {
	items, err := e.maildrop(ctx, mailbox)
	if err != nil {
		return err
	}
	c, done, err := e.session(ctx, e.addr, mailbox)
	if err != nil {
		return err
	}
	defer done()
	list, err := c.List()
	if err != nil {
		return fmt.Errorf("LIST: %w", err)
	}
	if len(list) != len(items) {
		return fmt.Errorf("LIST has %d messages, the store %d unread", len(list), len(items))
	}
	for i, it := range items {
		n := i + 1
		r, err := c.Retr(n)
		if err != nil {
			return fmt.Errorf("RETR %d: %w", n, err)
		}
		gotSum, gotLen, err := wireHash(r)
		r.Close()
		if err != nil {
			return fmt.Errorf("RETR %d: %w", n, err)
		}
		if gotLen != list[i].Size {
			return fmt.Errorf("RETR %d sent %d octets, LIST said %d", n, gotLen, list[i].Size)
		}
		rc, err := e.store.Fetch(ctx, mailbox, it.UID)
		if err != nil {
			return fmt.Errorf("store: fetch %s: %w", it.UID, err)
		}
		wantSum, wantLen, err := wireHash(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("store: read %s: %w", it.UID, err)
		}
		if gotSum != wantSum || gotLen != wantLen {
			return fmt.Errorf("RETR %d (%d octets) differs from the store's item %s (%d octets with CRLF line ends)", n, gotLen, it.UID, wantLen)
		}
	}
	return c.Quit()
}

// pipelining: CAPA advertises PIPELINING and several commands sent in one
// write are answered in order (RFC 2449 §6.6). The login is not pipelined:
// some servers drop commands sent right behind PASS.
func pipelining(ctx context.Context, e *env, mailbox string) error {
	items, err := e.maildrop(ctx, mailbox)
	if err != nil {
		return err
	}
	c, done, err := e.session(ctx, e.addr, mailbox)
	if err != nil {
		return err
	}
	defer done()
	caps, err := c.Capa()
	if err != nil {
		return fmt.Errorf("CAPA: %w", err)
	}
	if !caps.Has(pop3.CapPipelining) {
		return errors.New("CAPA does not advertise PIPELINING")
	}
	conn := c.Conn()
	conn.SetDeadline(time.Now().Add(e.opts.Timeout))
	batch := "STAT\r\nUIDL 1\r\nLIST\r\nNOOP\r\nRETR 1\r\nUIDL 2\r\nQUIT\r\n"
	if _, err := io.WriteString(conn, batch); err != nil {
		return fmt.Errorf("write the batch: %w", err)
	}
	br := bufio.NewReader(conn)
	p := &pipeReader{br: br}
	wantStat := fmt.Sprintf("+OK %d ", len(items))
	steps := []struct {
		cmd   string
		multi bool
		check func(status string, body []string) error
	}{
		{"STAT", false, func(s string, _ []string) error { return prefix(s, wantStat) }},
		{"UIDL 1", false, func(s string, _ []string) error { return prefix(s, "+OK 1 "+items[0].UID) }},
		{"LIST", true, func(s string, body []string) error {
			if len(body) != len(items) {
				return fmt.Errorf("%d lines, want %d", len(body), len(items))
			}
			return prefix(body[0], "1 "+strconv.FormatInt(items[0].wireSize, 10))
		}},
		{"NOOP", false, func(s string, _ []string) error { return prefix(s, "+OK") }},
		{"RETR 1", true, func(s string, body []string) error { return prefix(s, "+OK") }},
		{"UIDL 2", false, func(s string, _ []string) error { return prefix(s, "+OK 2 "+items[1].UID) }},
		{"QUIT", false, func(s string, _ []string) error { return prefix(s, "+OK") }},
	}
	for _, st := range steps {
		status, body, err := p.reply(st.multi)
		if err != nil {
			return fmt.Errorf("reply to %s: %w", st.cmd, err)
		}
		if err := st.check(status, body); err != nil {
			return fmt.Errorf("reply to pipelined %s: %w", st.cmd, err)
		}
	}
	return nil
}

func prefix(got, want string) error {
	if !strings.HasPrefix(got+" ", want) {
		return fmt.Errorf("got %.80q, want %q...", got, want)
	}
	return nil
}

// pipeReader reads raw replies for the pipelining check.
type pipeReader struct{ br *bufio.Reader }

// maxPipeLine bounds one line read by pipeReader (a message line of the
// fake store is far shorter).
const maxPipeLine = 64 << 10

func (p *pipeReader) line() (string, error) {
	var b []byte
	for {
		chunk, err := p.br.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxPipeLine {
			return "", fmt.Errorf("line longer than %d octets", maxPipeLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

func (p *pipeReader) reply(multi bool) (string, []string, error) {
	status, err := p.line()
	if err != nil {
		return "", nil, err
	}
	if !multi || !strings.HasPrefix(status, "+OK") {
		return status, nil, nil
	}
	var body []string
	for {
		l, err := p.line()
		if err != nil {
			return "", nil, err
		}
		if l == "." {
			return status, body, nil
		}
		body = append(body, l)
	}
}

// deleQuit: DELE then QUIT tags the message archive in the store, and the
// next session's maildrop no longer has it.
func deleQuit(ctx context.Context, e *env, mailbox string) error {
	items, err := e.maildrop(ctx, mailbox)
	if err != nil {
		return err
	}
	c, done, err := e.session(ctx, e.addr, mailbox)
	if err != nil {
		return err
	}
	defer done()
	victim, err := c.UidlOne(1)
	if err != nil {
		return fmt.Errorf("UIDL 1: %w", err)
	}
	if victim.UID != items[0].UID {
		return fmt.Errorf("UIDL 1 is %q, the store's first unread item %q", victim.UID, items[0].UID)
	}
	if err := c.Dele(1); err != nil {
		return fmt.Errorf("DELE 1: %w", err)
	}
	if _, err := c.ListOne(1); err == nil {
		return errors.New("LIST 1 of a deleted message succeeded")
	}
	if tag, err := e.tagOf(ctx, mailbox, victim.UID); err != nil || tag != sdk.TagUnread {
		return fmt.Errorf("before QUIT the deleted message is tagged %q (%v), want unread", tag, err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	done()
	if tag, err := e.tagOf(ctx, mailbox, victim.UID); err != nil || tag != sdk.TagArchive {
		return fmt.Errorf("after QUIT the deleted message is tagged %q (%v), want archive", tag, err)
	}

	c2, done2, err := e.session(ctx, e.addr, mailbox)
	if err != nil {
		return fmt.Errorf("second session: %w", err)
	}
	defer done2()
	uids, err := c2.Uidl()
	if err != nil {
		return fmt.Errorf("second session UIDL: %w", err)
	}
	if len(uids) != len(items)-1 {
		return fmt.Errorf("second session has %d messages, want %d", len(uids), len(items)-1)
	}
	if slices.ContainsFunc(uids, func(u pop3client.MessageUID) bool { return u.UID == victim.UID }) {
		return errors.New("the deleted message is still in the next session's maildrop")
	}
	return c2.Quit()
}
