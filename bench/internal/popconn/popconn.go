// Package popconn is the small raw-socket POP3 client the benchmarks drive
// servers with: one command at a time, or many RETRs written on Conn before
// their replies are read (a pipelined client).
package popconn

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// IOTimeout bounds one command/response exchange.
const IOTimeout = 5 * time.Minute

// Conn is a POP3 connection past its greeting.
type Conn struct {
	Conn net.Conn // written directly by pipelining callers
	r    *bufio.Reader
}

// Dial connects to addr and reads the greeting.
func Dial(addr string) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	p := &Conn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}
	c.SetDeadline(time.Now().Add(IOTimeout))
	if _, err := p.Status(); err != nil {
		c.Close()
		return nil, err
	}
	return p, nil
}

// Close closes the connection.
func (p *Conn) Close() error { return p.Conn.Close() }

// Status reads one status line and fails unless it is +OK.
func (p *Conn) Status() (string, error) {
	l, err := p.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(l, "+OK") {
		return "", fmt.Errorf("server said %q", strings.TrimSpace(l))
	}
	return l, nil
}

// Cmd sends one command and reads its status line.
func (p *Conn) Cmd(format string, a ...any) (string, error) {
	p.Conn.SetDeadline(time.Now().Add(IOTimeout))
	if _, err := fmt.Fprintf(p.Conn, format+"\r\n", a...); err != nil {
		return "", err
	}
	return p.Status()
}

// Login sends USER and PASS.
func (p *Conn) Login(user, pass string) error {
	if _, err := p.Cmd("USER %s", user); err != nil {
		return err
	}
	_, err := p.Cmd("PASS %s", pass)
	return err
}

// Stat sends STAT and returns the number of messages.
func (p *Conn) Stat() (int, error) {
	st, err := p.Cmd("STAT")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(st)
	if len(f) < 2 {
		return 0, fmt.Errorf("STAT %q", st)
	}
	return strconv.Atoi(f[1])
}

// RetrAll retrieves messages 1 to n pipelined (RFC 2449 PIPELINING): it
// keeps depth RETRs sent ahead of the reply being read, a sliding window
// (the first depth commands go in one write, then one more as each reply
// ends), so that the server always has the next command waiting and never
// waits for the client's round trip. It returns the SHA-256 of each
// message, in order, and the octets read.
func (p *Conn) RetrAll(n, depth int) (sums [][]byte, octets int64, err error) {
	p.Conn.SetDeadline(time.Now().Add(IOTimeout))
	slots := make(chan struct{}, max(depth, 1))
	werr := make(chan error, 1)
	quit := make(chan struct{}) // closed on return: the writer stops waiting
	defer close(quit)
	go func() {
		bw := bufio.NewWriterSize(p.Conn, 4096)
		for i := 1; i <= n; i++ {
			select {
			case slots <- struct{}{}:
			default:
				// The window is full: send what is queued, then wait.
				if err := bw.Flush(); err != nil {
					werr <- err
					return
				}
				select {
				case slots <- struct{}{}:
				case <-quit:
					return
				}
			}
			bw.WriteString("RETR ")
			bw.WriteString(strconv.Itoa(i))
			bw.WriteString("\r\n")
		}
		werr <- bw.Flush()
	}()
	for i := 1; i <= n; i++ {
		if _, err := p.Status(); err != nil {
			return nil, 0, fmt.Errorf("RETR %d: %w", i, err)
		}
		h := sha256.New()
		k, err := p.Multi(h)
		if err != nil {
			return nil, 0, err
		}
		<-slots
		sums = append(sums, h.Sum(nil))
		octets += k
	}
	if err := <-werr; err != nil {
		return nil, 0, err
	}
	return sums, octets, nil
}

// Multi reads a multi-line body, unstuffs it and writes it to w.
func (p *Conn) Multi(w io.Writer) (int64, error) {
	var n int64
	for {
		line, err := p.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line: pass the piece on and go on reading.
			w.Write(line)
			n += int64(len(line))
			for err == bufio.ErrBufferFull {
				line, err = p.r.ReadSlice('\n')
				w.Write(line)
				n += int64(len(line))
			}
			if err != nil {
				return n, err
			}
			continue
		}
		if err != nil {
			return n, err
		}
		if len(line) == 3 && line[0] == '.' && line[1] == '\r' {
			return n, nil
		}
		if line[0] == '.' {
			line = line[1:]
		}
		w.Write(line)
		n += int64(len(line))
	}
}

// Open connects to addr, logs in as user and returns the connection and
// the number of messages STAT gives.
func Open(addr, user, pass string) (*Conn, int, error) {
	p, err := Dial(addr)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	err = p.Login(user, pass)
	if err == nil {
		n, err = p.Stat()
	}
	if err != nil {
		p.Close()
		return nil, 0, err
	}
	return p, n, nil
}

// Run is what RetrieveAll read.
type Run struct {
	Sums    [][]byte // the SHA-256 of each message, in order
	Octets  int64    // the octets read, unstuffed
	Seconds float64  // from the first RETR sent to the last reply read
}

// RetrieveAll logs in to addr as user, retrieves every message with
// RetrAll (depth RETRs in flight) and QUITs.
func RetrieveAll(addr, user, pass string, depth int) (Run, error) {
	p, n, err := Open(addr, user, pass)
	if err != nil {
		return Run{}, err
	}
	defer p.Close()
	t0 := time.Now()
	sums, octets, err := p.RetrAll(n, depth)
	if err != nil {
		return Run{}, err
	}
	r := Run{Sums: sums, Octets: octets, Seconds: time.Since(t0).Seconds()}
	if _, err := p.Cmd("QUIT"); err != nil && !errors.Is(err, io.EOF) {
		return Run{}, err
	}
	return r, nil
}
