package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/plugins/localfs/localfs"
	"github.com/izyware/izypop3/sdk"
)

// TestMaildirDovecotToIzypop3: a Maildir written by Dovecot's own delivery
// agent (dovecot-lda, which stores LF line ends and may add headers) is
// served by `izypop3 --modhandler localfs --mimestore.layout maildir`; every
// message must come out as the file's octets with CRLF line ends. DELE+QUIT
// then moves the messages into the Maildir++ folder .archive (cur/, flag S).
func TestMaildirDovecotToIzypop3(t *testing.T) {
	needBinary(t, "izypop3-store-localfs")
	dov := needDovecot(t)
	const user = "fromdovecot"
	for _, m := range sampleMessages() {
		if err := dov.Deliver(context.Background(), user, m); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Dir(dov.Maildir(user))
	checkIzypop3OverMaildir(t, root, user)
}

// TestMaildirMpopToIzypop3: a Maildir written by mpop (downloading from
// Dovecot, LF line ends) is served by izypop3 with the maildir layout.
func TestMaildirMpopToIzypop3(t *testing.T) {
	needBinary(t, "izypop3-store-localfs")
	tg := dovecotTarget(t, sampleMessages())
	// checkMpop leaves its maildir in a temp dir: serve a copy of it.
	needPeer(t, "mpop")
	got := checkMpop(t, tg)
	root := t.TempDir()
	md := filepath.Join(root, "frommpop")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range got {
		// mpop's own names are unique but long; any unique name will do.
		name := fmt.Sprintf("1700000000.M%dP1.mpop", i)
		if err := os.WriteFile(filepath.Join(md, "new", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	checkIzypop3OverMaildir(t, root, "frommpop")
}

// checkIzypop3OverMaildir serves ROOT/mailbox (an existing Maildir) with
// izypop3 localfs layout=maildir and checks curl and poplib downloads
// against the files, then DELE of message 1 + QUIT.
func checkIzypop3OverMaildir(t *testing.T, root, mailbox string) {
	t.Helper()
	var files [][]byte
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(root, mailbox, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(root, mailbox, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
	}
	if len(files) == 0 {
		t.Fatal("the maildir is empty")
	}
	exp := localfsExpected(t, root, localfs.LayoutMaildir, mailbox)
	// The in-process listing must cover exactly the files found.
	unordered := target{Msgs: exp}
	matchAll(t, "localfs listing vs maildir files", unordered, func() [][]byte {
		w := make([][]byte, len(files))
		for i, f := range files {
			w[i] = testkit.WireForm(f)
		}
		return w
	}(), func(b []byte) []byte { return b })

	srv := startIzypop3(t, "--modhandler", "localfs", "--mimestore.path", root, "--mimestore.layout", "maildir")
	tg := target{Name: "izypop3-localfs-maildir", Port: srv.Port, User: mailbox, Pass: testPassword,
		Msgs: exp, Ordered: true}
	t.Run("curl", func(t *testing.T) { checkCurl(t, tg) })
	t.Run("poplib", func(t *testing.T) { checkPoplib(t, tg) })

	runPoplib(t, tg, "--no-retr", "--dele", "1")
	r := runPoplib(t, tg, "--no-retr")
	var want []string
	for _, m := range exp[1:] {
		want = append(want, m.UID)
	}
	checkUIDL(t, r, want)
	archived, err := filepath.Glob(filepath.Join(root, mailbox, ".archive", "cur", exp[0].UID+":2,*S*"))
	if err != nil || len(archived) != 1 {
		ents, _ := os.ReadDir(filepath.Join(root, mailbox, ".archive", "cur"))
		t.Fatalf("message %s not in .archive/cur with flag S: %v %v", exp[0].UID, archived, ents)
	}
}

// TestMaildirIzypop3ToDovecot: a Maildir written by izypop3's localfs store
// (Put, in-process, layout=maildir) is served by Dovecot 2.3; every message
// must come out of Dovecot (curl and poplib) as the octets that were Put,
// with CRLF line ends.
func TestMaildirIzypop3ToDovecot(t *testing.T) {
	dov := needDovecot(t)
	const user = "fromizypop3"
	root := filepath.Dir(dov.Maildir(user))
	st, err := localfs.New(localfs.Config{Path: root, Layout: localfs.LayoutMaildir})
	if err != nil {
		t.Fatal(err)
	}
	msgs := sampleMessages()
	tg := target{Name: "dovecot-over-localfs", Port: dov.Port, User: user, Pass: testPassword}
	for _, m := range msgs {
		res, err := st.Put(context.Background(), user, sdk.PutOptions{}, bytes.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		if res.Size != int64(len(m)) {
			t.Fatalf("Put stored %d octets, want %d", res.Size, len(m))
		}
		w := testkit.WireForm(m)
		size := int64(len(w))
		if !bytes.HasSuffix(m, []byte("\n")) {
			size -= 2 // Dovecot's LIST leaves out the CRLF it appends
		}
		tg.Msgs = append(tg.Msgs, expectedMsg{Wire: w, ListSize: size})
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Written as root: hand the maildir to Dovecot's mail user.
	if err := dov.ChownTree(dov.Maildir(user)); err != nil {
		t.Fatal(err)
	}
	t.Run("curl", func(t *testing.T) { checkCurl(t, tg) })
	t.Run("poplib", func(t *testing.T) { checkPoplib(t, tg) })
}
