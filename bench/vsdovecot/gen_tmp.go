package main

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
)

func fakeMessages(ctx context.Context, n, lo, hi, seed int) ([][]byte, error) {
	r := rand.New(rand.NewSource(int64(seed)))
	var out [][]byte
	for i := 0; i < n; i++ {
		size := lo + r.Intn(hi-lo+1)
		var b strings.Builder
		fmt.Fprintf(&b, "From: a@example.invalid\r\nSubject: %d\r\n\r\n", i)
		for b.Len() < size-80 {
			fmt.Fprintf(&b, "%s\r\n", strings.Repeat("abcdefgh", 8))
		}
		out = append(out, []byte(b.String()))
	}
	return out, nil
}
