package interop

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/test/interop/dovecottest"
)

// needDovecot starts a private Dovecot (loud skip without it; failure under
// CI=true), stopped at the end of the test.
func needDovecot(t *testing.T) *dovecottest.Server {
	t.Helper()
	return needDovecotWith(t, dovecottest.Options{Password: testPassword})
}

// needDovecotWith is needDovecot with opts; its log is in the test's on
// failure.
func needDovecotWith(t *testing.T, opts dovecottest.Options) *dovecottest.Server {
	t.Helper()
	if err := dovecottest.Available(); err != nil {
		testkit.PeerMissing(t, err.Error(), requiredByCI())
	}
	s, err := dovecottest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- dovecot log ---\n%s", s.Log())
		}
		s.Stop()
	})
	return s
}

// sampleMessages is a small hand-made maildrop with the shapes that break
// POP3 peers: lines starting with ".", a lone "." line, "From " lines, a
// 998-octet line, an empty body, bare LF line ends and no final line end.
func sampleMessages() [][]byte {
	long := strings.Repeat("x", 998)
	dotLong := "." + strings.Repeat("d", 997)
	return [][]byte{
		[]byte("From: a@example.invalid\r\nSubject: plain\r\nMessage-ID: <1@example.invalid>\r\n\r\nHello.\r\n"),
		[]byte("From: a@example.invalid\r\nSubject: dots\r\nMessage-ID: <2@example.invalid>\r\n\r\n.\r\n..\r\n.leading dot\r\n...three\r\nmid.dle\r\n. \r\n"),
		[]byte("From: a@example.invalid\r\nSubject: from lines\r\nMessage-ID: <3@example.invalid>\r\n\r\nFrom the start\r\n>From quoted\r\n\r\n\r\nend\r\n"),
		[]byte("From: a@example.invalid\r\nSubject: long\r\nMessage-ID: <4@example.invalid>\r\n\r\n" + long + "\r\n" + dotLong + "\r\n"),
		[]byte("From: a@example.invalid\r\nSubject: empty body\r\nMessage-ID: <5@example.invalid>\r\n\r\n"),
		[]byte("From: a@example.invalid\nSubject: bare LF\nMessage-ID: <6@example.invalid>\n\nline one\n.dot\nline three\n"),
		[]byte("From: a@example.invalid\r\nSubject: " + strings.Repeat("big ", 10) + "\r\nMessage-ID: <7@example.invalid>\r\n\r\n" +
			strings.Repeat("The quick brown fox jumps over the lazy dog.\r\n", 1500)),
	}
}

// dovecotTarget serves msgs from a fresh Dovecot, written into the maildir
// as files (as a copy or an MTA would leave them).
func dovecotTarget(t *testing.T, msgs [][]byte) target {
	s := needDovecot(t)
	const user = "peer"
	tg := target{Name: "dovecot", Port: s.Port, User: user, Pass: testPassword}
	for i, m := range msgs {
		if err := s.WriteMaildir(user, fmt.Sprintf("1700000000.M%dP1.izytest", i), m); err != nil {
			t.Fatal(err)
		}
		w := testkit.WireForm(m)
		size := int64(len(w))
		if len(m) > 0 && !bytes.HasSuffix(m, []byte("\n")) {
			size -= 2 // Dovecot's LIST leaves out the CRLF it appends
		}
		tg.Msgs = append(tg.Msgs, expectedMsg{Wire: w, ListSize: size})
	}
	return tg
}

// TestPeersAgainstDovecot runs every peer check against Dovecot 2.3, the
// reference server: it proves the harness and the normalisation each
// client applies (docs/interop.md) before they judge izypop3.
func TestPeersAgainstDovecot(t *testing.T) {
	msgs := sampleMessages()
	eachPeer(t, func(t *testing.T, peer string) target { return dovecotTarget(t, msgs) })
}
