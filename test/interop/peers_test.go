package interop

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// expectedMsg is one message of a maildrop, in message-number order when
// the target is ordered.
type expectedMsg struct {
	UID      string // "" when the target's UIDs are not known in advance
	Wire     []byte // the message as sent, unstuffed (see testkit.WireForm)
	ListSize int64  // what LIST must say: len(Wire), except Dovecot's quirk
}

// target is a running POP3 server and what its maildrop must hold.
type target struct {
	Name    string // for failure messages
	Port    int
	User    string
	Pass    string
	Msgs    []expectedMsg
	Ordered bool // message n is Msgs[n-1] and UIDs are known
}

func (tg target) url(path string) string {
	return fmt.Sprintf("pop3://127.0.0.1:%d/%s", tg.Port, path)
}

// matchAll checks that got (one downloaded message each, after the client's
// normalisation norm) are exactly the expected messages: in order for an
// ordered target, as a multiset otherwise.
func matchAll(t *testing.T, peer string, tg target, got [][]byte, norm func([]byte) []byte) {
	t.Helper()
	if len(got) != len(tg.Msgs) {
		t.Fatalf("%s from %s: downloaded %d messages, want %d", peer, tg.Name, len(got), len(tg.Msgs))
	}
	want := make([][]byte, len(tg.Msgs))
	for i, m := range tg.Msgs {
		want[i] = norm(m.Wire)
	}
	if tg.Ordered {
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s from %s: message %d differs\n%s", peer, tg.Name, i+1, firstDiff(got[i], want[i]))
			}
		}
		return
	}
	sortBytes := func(s [][]byte) {
		sort.Slice(s, func(i, j int) bool { return bytes.Compare(s[i], s[j]) < 0 })
	}
	got = append([][]byte(nil), got...)
	sortBytes(got)
	sortBytes(want)
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s from %s: downloaded set differs (sorted #%d)\n%s", peer, tg.Name, i, firstDiff(got[i], want[i]))
		}
	}
}

// firstDiff describes where two byte strings first differ.
func firstDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-60)
	return fmt.Sprintf("len got %d want %d; first difference at octet %d:\n got: %q\nwant: %q",
		len(got), len(want), i, got[lo:min(len(got), i+60)], want[lo:min(len(want), i+60)])
}

// checkCurl lists the maildrop with curl (LIST and UIDL) and downloads every
// message with one curl run (one connection, RETR per URL). curl unstuffs
// and writes the message as sent, CRLF line ends and all, without the final
// "." line: compared exactly to the wire form.
func checkCurl(t *testing.T, tg target) {
	curl := needPeer(t, "curl")
	auth := []string{"-sS", "--max-time", "60", "-u", tg.User + ":" + tg.Pass}
	list := runPeer(t, nil, curl, append(auth, tg.url(""))...)
	var sizes []int64
	for _, l := range strings.Split(strings.TrimSpace(string(list)), "\r\n") {
		if l == "" {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 2 {
			t.Fatalf("curl LIST line %q", l)
		}
		n, _ := strconv.Atoi(f[0])
		sz, _ := strconv.ParseInt(f[1], 10, 64)
		if n != len(sizes)+1 {
			t.Fatalf("curl LIST: message number %d at position %d", n, len(sizes)+1)
		}
		sizes = append(sizes, sz)
	}
	if len(sizes) != len(tg.Msgs) {
		t.Fatalf("curl LIST: %d messages, want %d\n%s", len(sizes), len(tg.Msgs), list)
	}
	if tg.Ordered {
		for i, m := range tg.Msgs {
			if sizes[i] != m.ListSize {
				t.Errorf("curl LIST: message %d size %d, want %d", i+1, sizes[i], m.ListSize)
			}
		}
		uidl := runPeer(t, nil, curl, append(auth, "-X", "UIDL", tg.url(""))...)
		lines := strings.Split(strings.TrimSpace(string(uidl)), "\r\n")
		if len(lines) != len(tg.Msgs) {
			t.Fatalf("curl UIDL: %d lines, want %d\n%s", len(lines), len(tg.Msgs), uidl)
		}
		for i, l := range lines {
			if want := fmt.Sprintf("%d %s", i+1, tg.Msgs[i].UID); l != want {
				t.Errorf("curl UIDL line %d = %q, want %q", i+1, l, want)
			}
		}
	}

	dir := t.TempDir()
	args := append([]string(nil), auth...)
	for n := 1; n <= len(sizes); n++ {
		args = append(args, tg.url(strconv.Itoa(n)), "-o", filepath.Join(dir, strconv.Itoa(n)))
	}
	runPeer(t, nil, curl, args...)
	got := make([][]byte, len(sizes))
	for n := 1; n <= len(sizes); n++ {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(n)))
		if err != nil {
			t.Fatal(err)
		}
		got[n-1] = b
		if tg.Ordered && int64(len(b)) != sizes[n-1] {
			t.Errorf("curl: RETR %d gave %d octets, LIST said %d", n, len(b), sizes[n-1])
		}
	}
	matchAll(t, "curl RETR", tg, got, func(b []byte) []byte { return b })
}

// poplibResult is the JSON testdata/poplib_session.py prints.
type poplibResult struct {
	Greeting       string     `json:"greeting"`
	Stat           [2]int64   `json:"stat"`
	List           [][2]int64 `json:"list"`
	UIDL           [][2]any   `json:"uidl"`
	List1          string     `json:"list1"`
	UIDL1          string     `json:"uidl1"`
	Retr           []poplibMsg
	Top0           []poplibMsg `json:"top0"`
	TopN           []poplibMsg `json:"topn"`
	StatAfterDele1 [2]int64    `json:"stat_after_dele1"`
	RetrDeleted    string      `json:"retr_deleted"`
	StatAfterRset  [2]int64    `json:"stat_after_rset"`
	Quit           string      `json:"quit"`
	CapaBefore     []string    `json:"capa_before"`
	CapaAfter      []string    `json:"capa_after"`
}

type poplibMsg struct {
	N      int    `json:"n"`
	Resp   string `json:"resp"`
	Octets int64  `json:"octets"`
	Data   string `json:"data"`
}

func (m poplibMsg) bytes(t *testing.T) []byte {
	b, err := base64.StdEncoding.DecodeString(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inUseRetry bounds how long runPoplib retries a login refused with
// [IN-USE] (the lock of a just-dropped session being released).
const inUseRetry = 5 * time.Second

// poplibTopLines is the TOP line count the poplib session asks for.
const poplibTopLines = 3

// runPoplib runs one poplib session (testdata/poplib_session.py) with the
// given extra arguments.
func runPoplib(t *testing.T, tg target, extra ...string) poplibResult {
	t.Helper()
	py := needPeer(t, "python3")
	args := append([]string{filepath.Join(repoRoot, "test", "interop", "testdata", "poplib_session.py"),
		"--port", strconv.Itoa(tg.Port), "--user", tg.User, "--password", tg.Pass,
		"--top-lines", strconv.Itoa(poplibTopLines)}, extra...)
	// A session right after one that ended without QUIT may find the
	// maildrop still locked for a moment (-ERR [IN-USE], RFC 2449): retry
	// for a bounded time.
	deadline := time.Now().Add(inUseRetry)
	out, err := runPeerErr(nil, py, args...)
	for err != nil && strings.Contains(err.Error(), "IN-USE") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		out, err = runPeerErr(nil, py, args...)
	}
	if err != nil {
		t.Fatal(err)
	}
	var r poplibResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("poplib output: %v\n%.2000s", err, out)
	}
	return r
}

// checkPoplib runs STAT/LIST/UIDL/RETR/TOP/DELE/RSET/QUIT through poplib.
// poplib unstuffs and drops CRLFs; the script joins the lines with CRLF and
// adds a final CRLF, which gives back the wire form exactly.
func checkPoplib(t *testing.T, tg target) { checkPoplibWith(t, tg) }

// checkPoplibWith is checkPoplib with extra arguments for the script (such
// as --tls stls) and returns its result.
func checkPoplibWith(t *testing.T, tg target, extra ...string) poplibResult {
	r := runPoplib(t, tg, extra...)
	n := int64(len(tg.Msgs))
	var total int64
	for _, m := range tg.Msgs {
		total += m.ListSize
	}
	if r.Stat != [2]int64{n, total} {
		t.Errorf("poplib STAT = %v, want [%d %d]", r.Stat, n, total)
	}
	if int64(len(r.List)) != n || int64(len(r.UIDL)) != n || int64(len(r.Retr)) != n {
		t.Fatalf("poplib: LIST %d, UIDL %d, RETR %d entries, want %d", len(r.List), len(r.UIDL), len(r.Retr), n)
	}
	got := make([][]byte, n)
	for i, m := range r.Retr {
		b := m.bytes(t)
		got[i] = b
		// LIST size == octets RETR sent, unstuffed (Dovecot's quirk aside).
		if tg.Ordered && r.List[i][1] != int64(len(b)) {
			t.Errorf("poplib: LIST %d says %d octets, RETR gave %d", i+1, r.List[i][1], len(b))
		}
		if r.List[i][0] != int64(i+1) {
			t.Errorf("poplib: LIST line %d numbered %d", i+1, r.List[i][0])
		}
	}
	matchAll(t, "poplib RETR", tg, got, func(b []byte) []byte { return b })
	if tg.Ordered {
		for i, m := range tg.Msgs {
			if r.List[i][1] != m.ListSize {
				t.Errorf("poplib LIST %d = %d, want %d", i+1, r.List[i][1], m.ListSize)
			}
			if uid, _ := r.UIDL[i][1].(string); uid != m.UID {
				t.Errorf("poplib UIDL %d = %q, want %q", i+1, uid, m.UID)
			}
			if got, want := r.Top0[i].bytes(t), topForm(m.Wire, 0); !bytes.Equal(got, want) {
				t.Errorf("poplib TOP %d 0 differs\n%s", i+1, firstDiff(got, want))
			}
			if got, want := r.TopN[i].bytes(t), topForm(m.Wire, poplibTopLines); !bytes.Equal(got, want) {
				t.Errorf("poplib TOP %d %d differs\n%s", i+1, poplibTopLines, firstDiff(got, want))
			}
		}
		if want := fmt.Sprintf("+OK 1 %d", tg.Msgs[0].ListSize); r.List1 != want {
			t.Errorf("poplib LIST 1 = %q, want %q", r.List1, want)
		}
		if want := "+OK 1 " + tg.Msgs[0].UID; r.UIDL1 != want {
			t.Errorf("poplib UIDL 1 = %q, want %q", r.UIDL1, want)
		}
		if want := [2]int64{n - 1, total - tg.Msgs[0].ListSize}; r.StatAfterDele1 != want {
			t.Errorf("poplib STAT after DELE 1 = %v, want %v", r.StatAfterDele1, want)
		}
	}
	if !strings.HasPrefix(r.RetrDeleted, "-ERR") {
		t.Errorf("poplib RETR of a deleted message = %q, want -ERR", r.RetrDeleted)
	}
	if r.StatAfterRset != r.Stat {
		t.Errorf("poplib STAT after RSET = %v, want %v", r.StatAfterRset, r.Stat)
	}
	if !strings.HasPrefix(r.Quit, "+OK") {
		t.Errorf("poplib QUIT = %q", r.Quit)
	}
	return r
}

// readDirFiles returns the content of every regular file in dir.
func readDirFiles(t *testing.T, dir string) [][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// peerChecks are the peer programs every server is checked with.
var peerChecks = []struct {
	name  string
	check func(*testing.T, target)
}{
	{"curl", checkCurl},
	{"poplib", checkPoplib},
	{"mpop", func(t *testing.T, tg target) { checkMpop(t, tg) }},
	{"fetchmail", checkFetchmail},
}

// eachPeer runs each of peerChecks in a subtest named for the peer,
// against the target newTarget starts for it.
func eachPeer(t *testing.T, newTarget func(t *testing.T, peer string) target) {
	for _, p := range peerChecks {
		t.Run(p.name, func(t *testing.T) { p.check(t, newTarget(t, p.name)) })
	}
}

// checkMpop downloads the maildrop with mpop into a maildir (keep on, no
// Received header). mpop unstuffs and writes LF line ends: the files are
// compared to the wire form with CRLF turned into LF. Maildir file names
// carry no message number, so the comparison is as a multiset.
func checkMpop(t *testing.T, tg target) [][]byte {
	return checkMpopWith(t, tg, "tls off\nauth user\n")
}

// checkMpopWith is checkMpop with other settings (TLS, auth) in the mpoprc
// in place of "tls off" and "auth user".
func checkMpopWith(t *testing.T, tg target, settings string) [][]byte {
	t.Helper()
	mpop := needPeer(t, "mpop")
	dir := t.TempDir()
	md := filepath.Join(dir, "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "mpoprc")
	rc := fmt.Sprintf(`defaults
account default
host 127.0.0.1
port %d
%suser %s
password %s
delivery maildir %s
keep on
only_new off
received_header off
uidls_file %s
`, tg.Port, settings, tg.User, tg.Pass, md, filepath.Join(dir, "uidls"))
	if err := os.WriteFile(conf, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	runPeer(t, []string{"HOME=" + dir}, mpop, "-C", conf, "-q")
	got := readDirFiles(t, filepath.Join(md, "new"))
	matchAll(t, "mpop maildir", tg, got, crlfToLF)
	return got
}

// checkFetchmail downloads the maildrop with fetchmail (keep, fetchall, no
// Received header, no STLS) into a directory through an MDA script that
// writes each message to its own file. fetchmail unstuffs and, with an MDA,
// strips CR: the files are compared to the wire form with CRLF turned into
// LF, as a multiset.
func checkFetchmail(t *testing.T, tg target) {
	fm := needPeer(t, "fetchmail")
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	mda := filepath.Join(dir, "mda.sh")
	// One file per message; the name only has to be unique.
	script := "#!/bin/sh\nexec cat > \"$1/$(date +%s%N).$$\"\n"
	if err := os.WriteFile(mda, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	rcPath := filepath.Join(dir, "fetchmailrc")
	rc := fmt.Sprintf(`set no syslog
set no bouncemail
set invisible
poll 127.0.0.1 service %d protocol pop3 auth password timeout 60
  user "%s" password "%s"
  keep fetchall no rewrite no mimedecode sslproto ''
  mda "%s %s"
`, tg.Port, tg.User, tg.Pass, mda, out)
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "FETCHMAILHOME=" + dir}
	runPeer(t, env, fm, "-f", rcPath, "--nosyslog", "--nodetach", "-s", "--pidfile", filepath.Join(dir, "fetchmail.pid"))
	got := readDirFiles(t, out)
	matchAll(t, "fetchmail mda", tg, got, crlfToLF)
}
