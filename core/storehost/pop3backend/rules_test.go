package pop3backend

import (
	"bytes"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/wire"
	"github.com/izyware/izypop3/sdk"
)

// The wire size and the UID rule are written once on each side of the
// store boundary: in sdk for stores (sdk.WireCounter, sdk.ValidUID) and in
// core/pop3 for the server (wire.Size, that is DotWriter, and
// pop3.ValidUID), since neither may import the other. This package may
// import both; these fuzz targets keep the two in step.

func FuzzWireSizeRulesAgree(f *testing.F) {
	for _, s := range []string{"", "a", "a\r\n", "a\n", "a\r", "\r\r\n", "\n\r", ".a\r\n..\r\n", "x\r\ny", "\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		sdkSize, err := sdk.WireSizeOf(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		var c sdk.WireCounter
		for i := range msg { // incrementally, one octet at a time
			c.Write(msg[i : i+1])
		}
		if w := wire.Size(msg); sdkSize != w || c.Size() != w {
			t.Fatalf("%q: sdk.WireSizeOf %d, sdk.WireCounter %d, wire.Size (DotWriter) %d", msg, sdkSize, c.Size(), w)
		}
	})
}

func FuzzUIDRulesAgree(f *testing.F) {
	for _, s := range []string{"", "a", "a b", "\x21", "\x7e", "\x7f", "\x20", strings.Repeat("u", 70), strings.Repeat("u", 71), "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uid string) {
		if s, p := sdk.ValidUID(uid), pop3.ValidUID(uid); s != p {
			t.Fatalf("%q: sdk.ValidUID %v, pop3.ValidUID %v", uid, s, p)
		}
	})
}
