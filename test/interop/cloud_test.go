package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/izyware/izypop3/internal/mailgen"
	"github.com/izyware/izypop3/internal/s3test"
	"github.com/izyware/izypop3/internal/testkit"
	"github.com/izyware/izypop3/plugins/cloud/cloudstore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/storetest"
)

// The cloud store end to end against SeaweedFS, a real object store that
// checks SigV4: the built izypop3 and izypop3-store-cloud binaries serve a
// bucket to curl and poplib, archive on DELE+QUIT, refuse a wrong secret at
// start-up, exclude a second server's login with the lock in the bucket,
// and back a Dovecot Maildir up into the bucket with clientpop3.

// cloudArgs are the serverpop3/clientpop3 arguments for the cloud store on
// srv's bucket under prefix.
func cloudArgs(srv *s3test.Server, prefix string) []string {
	cfg := srv.Config(prefix)
	return []string{"--modhandler", "cloud",
		"--mimestore.dataservice", cfg["dataservice"],
		"--mimestore.tablename", cfg["tablename"],
		"--mimestore.accesstoken", cfg["accesstoken"]}
}

// plantObjects writes objects (key → body) with 16 PUTs in flight.
func plantObjects(t *testing.T, srv *s3test.Server, objs map[string][]byte) {
	t.Helper()
	c := srv.Client()
	type kv struct {
		k string
		b []byte
	}
	work := make(chan kv)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(o.k), Body: bytes.NewReader(o.b)})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("put %s: %w", o.k, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for k, b := range objs {
		work <- kv{k, b}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// cloudStore opens the cloud store in process on srv's bucket under prefix
// (to read what the servers see, or what a sync stored).
func cloudStore(t *testing.T, srv *s3test.Server, prefix string) *cloudstore.Store {
	t.Helper()
	st := cloudstore.New(nil)
	if err := st.Configure(context.Background(), srv.Config(prefix)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// cloudItems reads every item of mailbox with the given tags, with its
// octets.
func cloudItems(t *testing.T, st sdk.Store, mailbox string, tags ...sdk.Tag) ([]sdk.Item, [][]byte) {
	t.Helper()
	items := storetest.List(t, st, mailbox, tags...)
	bodies := make([][]byte, len(items))
	for i, it := range items {
		bodies[i] = storetest.Fetch(t, st, mailbox, it.UID)
	}
	return items, bodies
}

// cloudMessages is a mailbox of n planted objects: the hand-made shapes
// (sampleMessages) and generated mail, under keys of several forms (an SES
// message id, .eml names, a name that is not a valid UIDL) plus SES's setup
// notification, which is not a message.
func cloudMessages(n int) map[string][]byte {
	objs := map[string][]byte{"AMAZON_SES_SETUP_NOTIFICATION": []byte("Amazon SES setup notification\n")}
	sample := sampleMessages()
	gen := mailgen.Set(7, max(0, n-len(sample)), 1500)
	for i := range n {
		var b []byte
		if i < len(sample) {
			b = sample[i]
		} else {
			b = gen[i-len(sample)]
		}
		var k string
		switch i % 3 {
		case 0:
			k = fmt.Sprintf("0000014a%08x-5f6a7b8c-aaaa-bbbb-cccc-ddddeeeeffff-000000", i)
		case 1:
			k = fmt.Sprintf("msg%05d.eml", i)
		default:
			k = fmt.Sprintf("with space ünï %05d", i)
		}
		objs[k] = b
	}
	return objs
}

// cloudTarget plants n messages as objects of PREFIX/mailbox/ on srv and
// starts serverpop3 --modhandler cloud on them. The expected maildrop (order
// and UIDs) comes from the store read in process; its octets are checked
// against what was planted.
func cloudTarget(t *testing.T, srv *s3test.Server, prefix, mailbox string, n int, extra ...string) (target, *izyServer) {
	t.Helper()
	needBinary(t, "izypop3-store-cloud")
	objs := cloudMessages(n)
	keyed := map[string][]byte{}
	planted := map[string]bool{}
	for k, b := range objs {
		keyed[prefix+"/"+mailbox+"/"+k] = b
		planted[string(b)] = true
	}
	start := time.Now()
	plantObjects(t, srv, keyed)
	t.Logf("planted %d objects in %v", len(keyed), time.Since(start).Round(time.Millisecond))
	items, bodies := cloudItems(t, cloudStore(t, srv, prefix), mailbox, sdk.TagUnread)
	if len(items) != n {
		t.Fatalf("the store lists %d unread messages, want %d (the setup notification is not one)", len(items), n)
	}
	var exp []expectedMsg
	for i, it := range items {
		if !planted[string(bodies[i])] {
			t.Fatalf("item %s: the store's octets are not a planted message", it.UID)
		}
		w := testkit.WireForm(bodies[i])
		exp = append(exp, expectedMsg{UID: it.UID, Wire: w, ListSize: int64(len(w))})
	}
	srvp := startIzypop3(t, append(cloudArgs(srv, prefix), extra...)...)
	return target{Name: "izypop3-cloud-seaweedfs", Port: srvp.Port, User: mailbox, Pass: testPassword, Msgs: exp, Ordered: true}, srvp
}

// TestCloudSeaweedPeers: 1500 objects (more than one listing page) served
// to curl and poplib byte for byte, in the same order with the same UIDs as
// the store sees in process.
func TestCloudSeaweedPeers(t *testing.T) {
	srv := s3test.StartSeaweed(t)
	tg, _ := cloudTarget(t, srv.Server, "peers", "inbox", 1500)
	t.Run("curl", func(t *testing.T) { checkCurl(t, tg) })
	t.Run("poplib", func(t *testing.T) { checkPoplib(t, tg) })
}

// TestCloudSeaweedDeleArchive: DELE 2 and 3 + QUIT moves those objects
// from PREFIX/M/ to the archive tag's prefix (same octets); the next
// session lists the others.
func TestCloudSeaweedDeleArchive(t *testing.T) {
	srv := s3test.StartSeaweed(t)
	const prefix, mailbox = "dele", "inbox"
	tg, _ := cloudTarget(t, srv.Server, prefix, mailbox, 20)
	r := runPoplib(t, tg, "--no-retr", "--dele", "2,3")
	if r.Stat[0] != int64(len(tg.Msgs)) {
		t.Fatalf("first session STAT %v, want %d messages", r.Stat, len(tg.Msgs))
	}
	r2 := runPoplib(t, tg, "--no-retr")
	checkUIDL(t, r2, uidsExcept(tg.Msgs, 2, 3))
	c := srv.Client()
	ctx := context.Background()
	list := func(p string) []string {
		l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket), Prefix: aws.String(p), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range l.Contents {
			keys = append(keys, *o.Key)
		}
		return keys
	}
	// Directly under PREFIX/M/: the others and the setup notification.
	if got := list(prefix + "/" + mailbox + "/"); len(got) != len(tg.Msgs)-2+1 {
		t.Errorf("%d objects left unread, want %d: %q", len(got), len(tg.Msgs)-2+1, got)
	}
	arch := list(prefix + "/" + mailbox + "/.izypop3/archive/")
	if len(arch) != 2 {
		t.Fatalf("archive holds %q, want 2 objects", arch)
	}
	var got [][]byte
	for _, k := range arch {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o.Body)
		o.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, testkit.WireForm(b))
	}
	sameMessages(t, "archive", got, [][]byte{tg.Msgs[1].Wire, tg.Msgs[2].Wire})
	// Nothing is left in the journal.
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket), Prefix: aws.String(prefix + "/" + mailbox + "/.izypop3/journal/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 0 {
		t.Errorf("%d journal objects left after the tag change", len(l.Contents))
	}
}

// startFails runs serverpop3 with args and expects it to exit non-zero
// within the start timeout; it returns the output.
func startFails(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeout)
	defer cancel()
	full := append([]string{"serverpop3", "--listen", "127.0.0.1", "--port", strconv.Itoa(testkit.FreePort(t)),
		"--plugin-dir", binDir, "--password", testPassword}, args...)
	out, err := exec.CommandContext(ctx, needBinary(t, "izypop3"), full...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("izypop3 %s: still running after %v (want a start-up failure)\n%s", strings.Join(full, " "), serverStartTimeout, out)
	}
	if err == nil {
		t.Fatalf("izypop3 %s: exited 0, want a start-up failure\n%s", strings.Join(full, " "), out)
	}
	return string(out)
}

// TestCloudSeaweedWrongSecret: a wrong secret key (SigV4 refused by the
// endpoint) stops serverpop3 at start-up with the endpoint, the bucket and
// the cause, and without the secret.
func TestCloudSeaweedWrongSecret(t *testing.T) {
	srv := s3test.StartSeaweed(t)
	needBinary(t, "izypop3-store-cloud")
	bad := *srv.Server
	bad.SecretKey = "not-the-secret-xyzzy"
	out := startFails(t, cloudArgs(&bad, "p")...)
	t.Logf("start-up error:\n%s", out)
	for _, want := range []string{srv.Endpoint, `"` + srv.Bucket + `/p"`, "secret key is wrong", "mimestore.accesstoken"} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up error does not say %q", want)
		}
	}
	if strings.Contains(out, bad.SecretKey) {
		t.Error("start-up error shows the secret")
	}
	// A bucket that does not exist is named too.
	nob := *srv.Server
	nob.Bucket = "no-such-bucket"
	out = startFails(t, cloudArgs(&nob, "")...)
	for _, want := range []string{srv.Endpoint, `"no-such-bucket"`, "does not exist"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing bucket: start-up error does not say %q\n%s", want, out)
		}
	}
}

// login opens a POP3 session on port and returns it after PASS, or the
// -ERR line PASS got (and a nil session).
func login(t *testing.T, port int, user string) (*rawSession, string) {
	t.Helper()
	s := dialSession(t, fmt.Sprintf("127.0.0.1:%d", port))
	s.cmd("USER "+user, "+OK")
	fmt.Fprintf(s.c, "PASS %s\r\n", testPassword)
	l, err := s.r.ReadString('\n')
	if err != nil {
		t.Fatalf("PASS: %v", err)
	}
	l = strings.TrimRight(l, "\r\n")
	if strings.HasPrefix(l, "+OK") {
		return s, l
	}
	s.close()
	return nil, l
}

// TestCloudSeaweedSharedLock: two servers on one bucket. While a session
// of the first holds the maildrop, the second's login gets -ERR [IN-USE];
// after SIGKILL of the first server and its store plugin, the lock (not
// refreshed any more) expires after lockttl and the second server logs in.
func TestCloudSeaweedSharedLock(t *testing.T) {
	srv := s3test.StartSeaweed(t)
	const prefix, mailbox, ttl = "lock", "inbox", 3 * time.Second
	tg, aSrv := cloudTarget(t, srv.Server, prefix, mailbox, 5, "--mimestore.lockttl", ttl.String())
	a := tg.Port
	bSrv := startIzypop3(t, append(cloudArgs(srv.Server, prefix), "--mimestore.lockttl", ttl.String())...)
	b := bSrv.Port

	holder, _ := login(t, a, mailbox)
	if holder == nil {
		t.Fatal("first server: login refused")
	}
	holder.cmd("STAT", "+OK 5 ")
	if s, l := login(t, b, mailbox); s != nil || !strings.HasPrefix(l, "-ERR [IN-USE]") {
		t.Fatalf("second server's login while the first holds the maildrop: %q, want -ERR [IN-USE]", l)
	}
	// The first server's process is izypop3; its child is the plugin, which
	// holds (and refreshes) the lock.
	pid := aSrv.cmd.Process.Pid
	kids := testkit.Children(pid)
	if len(kids) == 0 {
		t.Fatal("the first server has no plugin process")
	}
	killed := time.Now()
	syscall.Kill(pid, syscall.SIGKILL)
	for _, k := range kids {
		syscall.Kill(k, syscall.SIGKILL)
	}
	holder.close()
	// Reap the killed server (put back for its cleanup).
	err := <-aSrv.done
	aSrv.done <- err
	// Right after the kill the lock is still live.
	if s, l := login(t, b, mailbox); s != nil || !strings.HasPrefix(l, "-ERR [IN-USE]") {
		t.Fatalf("second server's login right after the holder died: %q, want -ERR [IN-USE] until the lock expires", l)
	}
	deadline := killed.Add(ttl + 20*time.Second)
	for {
		s, l := login(t, b, mailbox)
		if s != nil {
			t.Logf("second server logged in %v after the holder was killed (lockttl %v)", time.Since(killed).Round(100*time.Millisecond), ttl)
			s.cmd("STAT", "+OK 5 ")
			s.cmd("QUIT", "+OK")
			s.close()
			break
		}
		if !strings.HasPrefix(l, "-ERR [IN-USE]") {
			t.Fatalf("second server's login: %q", l)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead holder's lock did not expire within %v of lockttl %v", time.Since(killed), ttl)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if d := time.Since(killed); d < ttl/3 {
		t.Errorf("the lock was taken over %v after the holder died, before a refresh could even be missed (lockttl %v)", d, ttl)
	}
}

// TestCloudSeaweedSyncFromDovecot: clientpop3 --cmd sync --modhandler cloud
// backs a Dovecot Maildir up into the bucket (the stored octets are the
// messages' wire form); a rerun fetches nothing.
func TestCloudSeaweedSyncFromDovecot(t *testing.T) {
	srv := s3test.StartSeaweed(t)
	needBinary(t, "izypop3-store-cloud")
	d := needDovecot(t)
	const n, user, prefix = 300, "backup", "sync"
	msgs := mailgen.Set(11, n, 3000)
	var want [][]byte
	for i, m := range msgs {
		want = append(want, mailgen.WireForm(m))
		if err := d.WriteMaildir(user, fmt.Sprintf("1700000000.M%dP1.izytest", i), m); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"--ip", "127.0.0.1", "--port", strconv.Itoa(d.Port), "--user", user, "--pass", testPassword},
		cloudArgs(srv.Server, prefix)...)
	start := time.Now()
	out := clientpop3(t, append(args, "--cmd", "sync")...)
	t.Logf("first sync (%v): %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	if !strings.HasPrefix(out, fmt.Sprintf("fetched %d ", n)) {
		t.Fatalf("first sync: %s", out)
	}
	_, stored := cloudItems(t, cloudStore(t, srv.Server, prefix), user, sdk.TagUnread)
	sameMessages(t, "first sync", stored, want)
	if out := clientpop3(t, append(args, "--cmd", "sync")...); !strings.HasPrefix(out, "fetched 0 ") || !strings.Contains(out, fmt.Sprintf("%d held", n)) {
		t.Errorf("second sync: %s", out)
	}
	// Still n objects: the rerun stored nothing.
	l, err := srv.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket),
		Prefix: aws.String(prefix + "/" + user + "/"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != n {
		t.Errorf("%d objects under %s/%s/ after the rerun, want %d", len(l.Contents), prefix, user, n)
	}
	if c := maildirCount(t, d.Maildir(user)); c != n {
		t.Errorf("keep: Dovecot has %d messages, want %d", c, n)
	}
}
