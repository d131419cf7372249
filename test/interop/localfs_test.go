package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/plugins/fake/fakestore"
	"github.com/izyware/izypop3/plugins/localfs/localfs"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// localfsExpected lists the unread items of mailbox in a localfs store at
// root (in-process, before the server starts) and pairs each UID with the
// wire form of the file's octets as read by the store.
func localfsExpected(t *testing.T, root string, layout localfs.Layout, mailbox string) []expectedMsg {
	t.Helper()
	st, err := localfs.New(localfs.Config{Path: root, Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []expectedMsg
	for _, it := range storetest.List(t, st, mailbox, sdk.TagUnread) {
		w := testkit.WireForm(storetest.Fetch(t, st, mailbox, it.UID))
		out = append(out, expectedMsg{UID: it.UID, Wire: w, ListSize: int64(len(w))})
	}
	return out
}

// writeEML writes msgs as ROOT/mailbox/NNN.eml (the localfs "eml" layout:
// the unread messages are the .eml files of the mailbox directory).
func writeEML(t *testing.T, root, mailbox string, msgs [][]byte) {
	t.Helper()
	dir := filepath.Join(root, mailbox)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("msg%03d.eml", i+1)), m, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// localfsTarget serves the .eml files of a fresh temp dir through
// `izypop3 --modhandler localfs`.
func localfsTarget(t *testing.T, mailbox string, msgs [][]byte, extra ...string) (target, string) {
	needBinary(t, "izypop3-store-localfs")
	root := t.TempDir()
	writeEML(t, root, mailbox, msgs)
	exp := localfsExpected(t, root, localfs.LayoutEML, mailbox)
	srv := startIzypop3(t, append([]string{"--modhandler", "localfs", "--mimestore.path", root}, extra...)...)
	return target{Name: "izypop3-localfs", Port: srv.Port, User: mailbox, Pass: testPassword,
		Msgs: exp, Ordered: true}, root
}

// localfsMessages is the maildrop of the localfs tests: the hand-made
// shapes (sampleMessages) plus five fake-store messages as bulk.
func localfsMessages(t *testing.T) [][]byte {
	t.Helper()
	ctx := context.Background()
	st := fakestore.New()
	if err := st.Configure(ctx, map[string]string{"count": "5", "minsize": "2000", "maxsize": "90000", "seed": "3"}); err != nil {
		t.Fatal(err)
	}
	msgs := sampleMessages()
	for _, it := range storetest.List(t, st, "bulk") {
		b := storetest.Fetch(t, st, "bulk", it.UID)
		msgs = append(msgs, b)
	}
	return msgs
}

func TestLocalfsPeers(t *testing.T) {
	msgs := localfsMessages(t)
	eachPeer(t, func(t *testing.T, peer string) target {
		tg, _ := localfsTarget(t, "lfs"+peer, msgs)
		return tg
	})
}

// TestLocalfsDeleArchive: DELE 2 and 3 + QUIT through poplib moves those
// files into archive/ (same octets); the next session lists the others.
func TestLocalfsDeleArchive(t *testing.T) {
	const mailbox = "lfsdele"
	msgs := localfsMessages(t)
	tg, root := localfsTarget(t, mailbox, msgs)
	r := runPoplib(t, tg, "--no-retr", "--dele", "2,3")
	if r.Stat[0] != int64(len(msgs)) {
		t.Fatalf("first session STAT %v, want %d messages", r.Stat, len(msgs))
	}
	r2 := runPoplib(t, tg, "--no-retr")
	wantUIDs := []string{tg.Msgs[0].UID}
	for _, m := range tg.Msgs[3:] {
		wantUIDs = append(wantUIDs, m.UID)
	}
	checkUIDL(t, r2, wantUIDs)
	for _, i := range []int{1, 2} {
		name := tg.Msgs[i].UID + ".eml"
		if _, err := os.Stat(filepath.Join(root, mailbox, name)); !os.IsNotExist(err) {
			t.Errorf("%s still in the mailbox directory after DELE+QUIT (err %v)", name, err)
		}
		b, err := os.ReadFile(filepath.Join(root, mailbox, "archive", name))
		if err != nil {
			t.Errorf("%s not in archive/: %v", name, err)
			continue
		}
		if !bytes.Equal(testkit.WireForm(b), tg.Msgs[i].Wire) {
			t.Errorf("archived %s changed\n%s", name, firstDiff(testkit.WireForm(b), tg.Msgs[i].Wire))
		}
	}
}

// checkUIDL checks the UIDL listing of a poplib session.
func checkUIDL(t *testing.T, r poplibResult, want []string) {
	t.Helper()
	if len(r.UIDL) != len(want) {
		t.Fatalf("UIDL lists %d messages, want %d: %v", len(r.UIDL), len(want), r.UIDL)
	}
	for i, u := range r.UIDL {
		if s, _ := u[1].(string); s != want[i] {
			t.Errorf("UIDL %d = %q, want %q", i+1, s, want[i])
		}
	}
}
