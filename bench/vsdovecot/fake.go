package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/izyware/izypop3/plugins/fake/fakestore"
	"github.com/izyware/izypop3/sdk"
)

// fakeMessages generates, in-process, the unread messages the fake store
// gives mailbox benchUser with this configuration: the very octets
// `izypop3 --modhandler fake` with the same mimestore.* settings serves.
func fakeMessages(ctx context.Context, n, lo, hi, seed int) ([][]byte, error) {
	st := fakestore.New()
	if err := st.Configure(ctx, map[string]string{
		"count": strconv.Itoa(n), "minsize": strconv.Itoa(lo), "maxsize": strconv.Itoa(hi), "seed": strconv.Itoa(seed),
	}); err != nil {
		return nil, err
	}
	var out [][]byte
	for it, err := range st.List(ctx, benchUser, sdk.ListOptions{Tags: []sdk.Tag{sdk.TagUnread}}) {
		if err != nil {
			return nil, err
		}
		rc, err := st.Fetch(ctx, benchUser, it.UID)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if len(out) != n {
		return nil, fmt.Errorf("fake store listed %d messages, want %d", len(out), n)
	}
	return out, nil
}
