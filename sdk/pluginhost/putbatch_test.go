package pluginhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/izyware/izypop3/sdk"
)

// A PutBatch stream takes items ahead of their answers (sdk.BatchSender):
// three items sent, then their results in order; an item whose body fails
// is aborted alone; Put waits for nothing pending, and Result needs an item
// sent.
func TestPutBatchSendAhead(t *testing.T) {
	ms := newMemStore()
	r := serve(t, ms)
	bw, err := r.PutBatch(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	defer bw.Close()
	bs, ok := bw.(sdk.BatchSender)
	if !ok {
		t.Fatalf("%T is not an sdk.BatchSender", bw)
	}
	if _, err := bs.Result(); err == nil {
		t.Fatal("Result without an item sent: no error")
	}
	errBody := errors.New("body broke")
	bodies := []string{"Subject: 1\r\n\r\none\r\n", "broken", "Subject: 3\r\n\r\nthree, longer\r\n"}
	for i, b := range bodies {
		var body = strings.NewReader(b)
		if i == 1 {
			if err := bs.Send(sdk.PutOptions{SourceID: "s1"}, &failAfter{r: body, n: 3, err: errBody}); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
			continue
		}
		if err := bs.Send(sdk.PutOptions{SourceID: fmt.Sprint("s", i)}, body); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if _, err := bw.Put(sdk.PutOptions{}, strings.NewReader("x")); err == nil {
		t.Fatal("Put with results pending: no error")
	}
	for i, b := range bodies {
		res, err := bs.Result()
		if i == 1 {
			if !errors.Is(err, errBody) {
				t.Fatalf("Result %d: %+v %v, want the body's error", i, res, err)
			}
			continue
		}
		if err != nil || res.Size != int64(len(b)) {
			t.Fatalf("Result %d: %+v %v, want %d octets", i, res, err, len(b))
		}
	}
	// Put works again once nothing is pending.
	if res, err := bw.Put(sdk.PutOptions{}, bytes.NewReader([]byte("Subject: 4\r\n\r\n4\r\n"))); err != nil || res.Size != 17 {
		t.Fatalf("Put after the results: %+v %v", res, err)
	}
	if n := ms.count("m"); n != 3 {
		t.Fatalf("%d items stored, want 3 (the aborted one not)", n)
	}
}

// wrongDigest is a body that claims a digest of other content.
type wrongDigest struct{ *strings.Reader }

func (wrongDigest) SHA256() [32]byte { return [32]byte{1} }

// A body that is an sdk.Digester gives the item's trailer its digest (the
// host does not hash it again), and the plugin still checks it: a wrong
// one stores nothing.
func TestPutTakesTheBodysDigest(t *testing.T) {
	ms := newMemStore()
	r := serve(t, ms)
	if _, err := r.Put(context.Background(), "m", sdk.PutOptions{}, wrongDigest{strings.NewReader("Subject: x\r\n\r\ny\r\n")}); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("Put with a wrong digest: %v, want ErrInvalid", err)
	}
	bw, err := r.PutBatch(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	defer bw.Close()
	if _, err := bw.Put(sdk.PutOptions{}, wrongDigest{strings.NewReader("Subject: x\r\n\r\ny\r\n")}); !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("PutBatch item with a wrong digest: %v, want ErrInvalid", err)
	}
	if n := ms.count("m"); n != 0 {
		t.Fatalf("%d items stored with a wrong digest", n)
	}
}
