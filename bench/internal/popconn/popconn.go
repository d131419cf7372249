// Package popconn is the small raw-socket POP3 client the benchmarks drive
// servers with: one command at a time, or many RETRs written on Conn before
// their replies are read (a pipelined client).
package popconn

import (
	"bufio"
	"fmt"
	"io"
	"net"
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
