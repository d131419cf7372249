package fakestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// A generated message is rendered with go-message as a "skeleton" whose
// first text part contains a filler of n octets: head, filler, tail. Only
// head and tail are rendered (a few KB); the filler is produced line by line
// as it is read. So a message of any size costs a few KB of memory, its size
// is known without producing it, and the same parameters give the same
// octets on every run and every Go version (the generator is our own
// splitmix64, not math/rand).

// rng is splitmix64: tiny, fast and fixed forever, which determinism needs.
type rng struct{ x uint64 }

func newRNG(parts ...uint64) *rng {
	r := &rng{x: 0x6a09e667f3bcc908}
	for _, p := range parts {
		r.x ^= p
		r.next()
	}
	return r
}

func (r *rng) next() uint64 {
	r.x += 0x9e3779b97f4a7c15
	z := r.x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); n > 0. The modulo bias is irrelevant here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func hash64(s string) uint64 {
	h := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(h[:8])
}

// genUID is the UID of generated message idx of a mailbox: 20 hex digits of
// SHA-256(seed, mailbox, index), so it is stable across runs and distinct
// from Put UIDs (which contain a '-').
func genUID(seed int64, mailbox string, idx int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "izypop3-fake\x00%d\x00%s\x00%d", seed, mailbox, idx))
	return hex.EncodeToString(h[:10])
}

// baseDate is the Date of generated message 0; message i is i*37 minutes
// later.
var baseDate = time.Date(2024, 1, 2, 9, 0, 0, 0, time.UTC)

func genDate(idx int) time.Time { return baseDate.Add(time.Duration(idx) * 37 * time.Minute) }

// Message kinds, by index modulo 3.
const (
	kindPlain8bit  = iota // text/plain; charset=utf-8, 8bit
	kindMixed             // multipart/mixed: 8bit text + base64 attachment
	kindPlainASCII        // text/plain; charset=us-ascii, 7bit
	numKinds
)

// skeleton is a rendered message minus its filler.
type skeleton struct {
	head, tail []byte
	filler     int64 // octets of filler between head and tail
	fillSeed   uint64
	ascii      bool // the filler must be 7-bit
}

func (sk *skeleton) size() int64 { return int64(len(sk.head)) + sk.filler + int64(len(sk.tail)) }

// reader returns the message's octets.
func (sk *skeleton) reader(ctx context.Context) io.Reader {
	return &ctxReader{ctx: ctx, r: io.MultiReader(
		bytes.NewReader(sk.head),
		newFiller(sk.fillSeed, sk.filler, sk.ascii),
		bytes.NewReader(sk.tail),
	)}
}

var senders = []*mail.Address{
	{Name: "Ada Lovelace", Address: "ada@example.org"},
	{Name: "Jürgen Müller", Address: "juergen@example.de"},
	{Name: "Grace Hopper", Address: "grace@example.net"},
	{Name: "Zoë Ørsted", Address: "zoe@example.dk"},
	{Name: "", Address: "noreply@example.com"},
	{Name: "山田 太郎", Address: "taro@example.jp"},
}

var subjects = []string{
	"Quarterly report", "Lunch on Friday?", "Re: the build is green again",
	"Grüße aus Köln", "Invoice 2024-%03d", "Your order has shipped",
	"naïve question about café opening hours", "Meeting notes", "日本語の件名",
}

// render renders the skeleton of generated message idx of mailbox.
func (p params) render(mailbox string, idx int) (*skeleton, error) {
	r := newRNG(uint64(p.seed), hash64(mailbox), uint64(idx))
	uid := genUID(p.seed, mailbox, idx)
	kind := idx % numKinds

	from := senders[r.intn(len(senders))]
	subj := subjects[r.intn(len(subjects))]
	if strings.Contains(subj, "%") {
		subj = fmt.Sprintf(subj, idx)
	}
	// go-message writes header fields in the reverse order of setting
	// them; these give Date, From, To, Subject, Message-ID, MIME-Version,
	// Content-Type, Content-Transfer-Encoding, X-Fake-Index.
	var h mail.Header
	h.Set("X-Fake-Index", fmt.Sprint(idx))
	contentFields := func(th message.Header) {
		for _, f := range []string{"Content-Transfer-Encoding", "Content-Type"} {
			if v := th.Get(f); v != "" {
				h.Set(f, v)
			}
		}
	}
	otherFields := func() {
		h.Set("MIME-Version", "1.0")
		h.SetMessageID(uid + "@fake.izypop3.invalid")
		h.SetSubject(fmt.Sprintf("%s (fake %d of %d)", subj, idx+1, p.count))
		h.SetAddressList("To", []*mail.Address{{Name: mailbox, Address: "user@fake.izypop3.invalid"}})
		h.SetAddressList("From", []*mail.Address{from})
		h.SetDate(genDate(idx))
	}

	textHeader := func(ascii bool) message.Header {
		var th message.Header
		if ascii {
			th.SetContentType("text/plain", map[string]string{"charset": "us-ascii"})
			th.Set("Content-Transfer-Encoding", "7bit")
		} else {
			th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
			th.Set("Content-Transfer-Encoding", "8bit")
		}
		return th
	}

	var buf bytes.Buffer
	var split int
	writeText := func(w io.Writer, ascii bool) error {
		if _, err := io.WriteString(w, intro(mailbox, idx, p.count, ascii, r)); err != nil {
			return err
		}
		split = buf.Len() // the filler goes here
		_, err := io.WriteString(w, outro)
		return err
	}

	sk := &skeleton{fillSeed: r.next(), ascii: kind == kindPlainASCII}
	switch kind {
	case kindPlain8bit, kindPlainASCII:
		contentFields(textHeader(sk.ascii))
		otherFields()
		w, err := message.CreateWriter(&buf, h.Header)
		if err != nil {
			return nil, err
		}
		if err := writeText(w, sk.ascii); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case kindMixed:
		var mh message.Header
		mh.SetContentType("multipart/mixed", map[string]string{"boundary": fmt.Sprintf("=_fake_%016x", r.next())})
		contentFields(mh)
		otherFields()
		w, err := message.CreateWriter(&buf, h.Header)
		if err != nil {
			return nil, err
		}
		tw, err := w.CreatePart(textHeader(false))
		if err != nil {
			return nil, err
		}
		if err := writeText(tw, false); err != nil {
			return nil, err
		}
		if err := tw.Close(); err != nil {
			return nil, err
		}
		var ah mail.AttachmentHeader
		name := fmt.Sprintf("data-%d.bin", idx)
		ah.SetContentType("application/octet-stream", map[string]string{"name": name})
		ah.SetFilename(name)
		ah.Set("Content-Transfer-Encoding", "base64")
		aw, err := w.CreatePart(ah.Header)
		if err != nil {
			return nil, err
		}
		att := make([]byte, 64+r.intn(2048))
		for i := range att {
			att[i] = byte(r.next())
		}
		if _, err := aw.Write(att); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	b := buf.Bytes()
	sk.head, sk.tail = b[:split:split], b[split:]

	// The filler brings the message to a size drawn from [minsize, maxsize]
	// (or leaves the skeleton alone if that is already larger). A filler is
	// whole CRLF lines, so it is never 1 octet.
	target := p.minSize
	if p.maxSize > p.minSize {
		target += int64(r.next() % uint64(p.maxSize-p.minSize+1))
	}
	if fill := target - int64(len(b)); fill > 0 {
		if fill == 1 {
			fill = 2
			if target+1 > p.maxSize {
				fill = 0
			}
		}
		sk.filler = fill
	}
	return sk, nil
}

const outro = "\r\n-- \r\nizypop3 fake store\r\n"

// intro is the fixed start of a message's text: it always has lines
// starting with "." (byte-stuffed by a POP3 server) and, every other
// message, a line that is a lone "." (the multi-line terminator if a server
// forgot to stuff it).
func intro(mailbox string, idx, count int, ascii bool, r *rng) string {
	var b strings.Builder
	quoted := fmt.Sprintf("%q", mailbox)
	if ascii {
		quoted = fmt.Sprintf("%+q", mailbox)
	}
	fmt.Fprintf(&b, "Hello,\r\n\r\nThis is message %d of %d in the fake mailbox %s.\r\n", idx+1, count, quoted)
	if !ascii {
		b.WriteString("Grüße aus Köln: naïve café, smørrebrød, 日本語のテキスト, emoji 📬.\r\n")
	}
	b.WriteString(".This line starts with a dot.\r\n")
	b.WriteString("..And this one with two.\r\n")
	if idx%2 == 0 {
		b.WriteString(".\r\n")
	}
	fmt.Fprintf(&b, "Lucky number: %d\r\n\r\n", r.intn(1000))
	return b.String()
}
