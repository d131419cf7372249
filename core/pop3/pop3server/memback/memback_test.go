package memback

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3server"
)

func TestBackend(t *testing.T) {
	ctx := context.Background()
	b := New()
	b.AddUser("bob", "pw")
	b.Add("bob", "a", []byte("x\ny"))
	b.Add("bob", "b", []byte(""))

	if _, err := b.Login(ctx, pop3server.LoginRequest{User: "bob", Pass: "bad"}); !errors.Is(err, &pop3.Error{Code: pop3.CodeAuth}) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := b.Login(ctx, pop3server.LoginRequest{User: "nobody", Pass: "pw"}); !errors.Is(err, &pop3.Error{Code: pop3.CodeAuth}) {
		t.Fatalf("unknown user: %v", err)
	}
	mb, err := b.Login(ctx, pop3server.LoginRequest{User: "bob", Pass: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(ctx, pop3server.LoginRequest{User: "bob", Pass: "pw"}); !errors.Is(err, &pop3.Error{Code: pop3.CodeInUse}) {
		t.Fatalf("second login: %v", err)
	}
	msgs, _ := mb.Messages(ctx)
	if want := []pop3server.Message{{UID: "a", Size: 6}, {UID: "b", Size: 0}}; !reflect.DeepEqual(msgs, want) {
		t.Errorf("Messages = %+v, want %+v", msgs, want)
	}
	rc, err := mb.Open(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := io.ReadAll(rc); string(data) != "x\ny" {
		t.Errorf("Open = %q (raw octets expected)", data)
	}
	for _, n := range []int{0, 3} {
		if _, err := mb.Open(ctx, n); err == nil {
			t.Errorf("Open of message %d of 2 succeeded", n)
		}
	}
	if err := mb.Update(ctx, []string{"a"}, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mb.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if b.Locked("bob") {
		t.Error("still locked after Close")
	}
	if got := b.UIDs("bob"); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("UIDs after Update = %q", got)
	}
	want := []Call{{Op: "update", User: "bob", Deleted: []string{"a"}, Retrieved: []string{"a", "b"}}, {Op: "close", User: "bob"}}
	if got := b.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("Calls = %+v, want %+v", got, want)
	}
}

func TestAPOP(t *testing.T) {
	ctx := context.Background()
	b := New()
	b.AddUser("mrose", "tanstaaf")
	if b.APOPEnabled() {
		t.Fatal("APOP on by default")
	}
	b.SetAPOP(true)
	// The example of RFC 1939 §7.
	const stamp = "<1896.697170952@dbc.mtview.ca.us>"
	sum := md5.Sum([]byte(stamp + "tanstaaf"))
	if got := hex.EncodeToString(sum[:]); got != "c4c9334bac560ecc979e58001b3e22fb" {
		t.Fatalf("digest %s", got)
	}
	if _, err := b.LoginAPOP(ctx, "mrose", stamp, "c4c9334bac560ecc979e58001b3e22fa", ""); err == nil {
		t.Error("wrong digest accepted")
	}
	mb, err := b.LoginAPOP(ctx, "mrose", stamp, "c4c9334bac560ecc979e58001b3e22fb", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := mb.Abandon(ctx, nil); err != nil {
		t.Fatal(err)
	}
	mb.Close()
}
