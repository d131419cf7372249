package selftest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/izyware/izypop3/sdk"
)

// MimeStore is `izypop3 test --testtype mimestore`, the seed's store test:
// it prints the store's per-tag statistics for mailbox, then up to limit
// items (0: all) whose tag is one of tags (empty: any) with their UID, size,
// wire size, tag, source id and time received. A tag that is not one of
// the six (sdk.Tags) matches nothing: it is named in a warning line, as the
// seed's own example "query.tags abc" shows. It returns an error if the
// store fails.
func MimeStore(ctx context.Context, w io.Writer, store sdk.Store, mailbox string, limit int, tags []sdk.Tag) error {
	if store == nil {
		return errors.New("selftest: nil store")
	}
	if mailbox == "" {
		return fmt.Errorf("selftest: %w: empty mailbox name", sdk.ErrInvalid)
	}
	if limit < 0 {
		return fmt.Errorf("selftest: %w: negative limit %d", sdk.ErrInvalid, limit)
	}
	var valid []sdk.Tag
	for _, t := range tags {
		if !t.Valid() {
			fmt.Fprintf(w, "warning: %q is not a tag (the tags are %s): it matches nothing\n", t, tagList())
			continue
		}
		valid = append(valid, t)
	}
	matchNone := len(tags) > 0 && len(valid) == 0

	stat, err := store.Stat(ctx, mailbox)
	if err != nil {
		return fmt.Errorf("selftest: store stat: %w", err)
	}
	fmt.Fprintf(w, "mailbox %s\n", mailbox)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAG\tCOUNT\tSIZE")
	var total sdk.TagStat
	for _, t := range sortedTags(stat) {
		s := stat[t]
		fmt.Fprintf(tw, "%s\t%d\t%d\n", t, s.Count, s.Size)
		total.Count += s.Count
		total.Size += s.Size
	}
	fmt.Fprintf(tw, "total\t%d\t%d\n", total.Count, total.Size)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tSIZE\tWIRESIZE\tTAG\tSOURCEID\tRECEIVED")
	n := 0
	items := store.List(ctx, mailbox, sdk.ListOptions{Tags: valid, Limit: limit})
	if matchNone {
		items = func(func(sdk.Item, error) bool) {}
	}
	for it, err := range items {
		if err != nil {
			tw.Flush()
			return fmt.Errorf("selftest: store list: %w", err)
		}
		if limit > 0 && n >= limit {
			break // a store that ignores Limit
		}
		n++
		src := it.SourceID
		if src == "" {
			src = "-"
		}
		rcv := "-"
		if !it.Received.IsZero() {
			rcv = it.Received.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", it.UID, it.Size, it.WireSize, it.Tag, src, rcv)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d items listed\n", n)
	return nil
}

// tagList is "unread, archive, staged, dup, pop3failed, conversionerror".
func tagList() string {
	names := make([]string, len(sdk.Tags))
	for i, t := range sdk.Tags {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// sortedTags returns the tags of stat: the six known ones in sdk.Tags order,
// then any others sorted.
func sortedTags(stat map[sdk.Tag]sdk.TagStat) []sdk.Tag {
	var out, other []sdk.Tag
	for _, t := range sdk.Tags {
		if _, ok := stat[t]; ok {
			out = append(out, t)
		}
	}
	for t := range stat {
		if !t.Valid() {
			other = append(other, t)
		}
	}
	slices.Sort(other)
	return append(out, other...)
}
