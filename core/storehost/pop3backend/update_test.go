package pop3backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/izyware/izypop3/core/pop3/pop3server"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// dyingStore is a memStore whose SetTag or Delete fails as a call does
// when the plugin process dies around it: after doing its work (done), or
// before (!done). The error is the one the store host gives a session
// whose lock died with the process.
type dyingStore struct {
	*memStore
	failSetTag, failDelete, done bool
}

var errDied = fmt.Errorf("%w: %w: plugin process exited", pluginhost.ErrLockLost, sdk.ErrUnavailable)

func (s *dyingStore) SetTag(ctx context.Context, mailbox string, uids []string, tag sdk.Tag) ([]string, error) {
	if !s.failSetTag {
		return s.memStore.SetTag(ctx, mailbox, uids, tag)
	}
	if s.done {
		s.memStore.SetTag(ctx, mailbox, uids, tag)
	}
	return nil, errDied
}

func (s *dyingStore) Delete(ctx context.Context, mailbox string, uids []string) ([]string, error) {
	if !s.failDelete {
		return s.memStore.Delete(ctx, mailbox, uids)
	}
	if s.done {
		s.memStore.Delete(ctx, mailbox, uids)
	}
	return nil, errDied
}

// TestUpdateFailedAfterItsWork: a QUIT whose store call failed after the
// store had made the change (the plugin killed between its work and its
// reply) is answered +OK, not "some deleted messages not removed" nor
// "nothing was changed"; one that failed before is still an error, and
// one half done is not reported as "nothing was changed".
func TestUpdateFailedAfterItsWork(t *testing.T) {
	tests := []struct {
		name     string
		store    dyingStore
		opts     Options
		wantErr  bool
		wantLost bool // errors.Is(err, ErrMaildropLost): "nothing was changed"
	}{
		{"delete done, reply lost", dyingStore{failDelete: true, done: true}, Options{OnDele: OnDeleDelete}, false, false},
		{"settag done, reply lost", dyingStore{failSetTag: true, done: true}, Options{}, false, false},
		{"delete not done", dyingStore{failDelete: true}, Options{OnDele: OnDeleDelete}, true, true},
		{"settag not done", dyingStore{failSetTag: true}, Options{}, true, true},
		{"archive done, delete not", dyingStore{failDelete: true}, Options{OnDele: OnDeleDelete, ConsumeOnRetr: true}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.store
			s.memStore = newMemStore()
			var uids []string
			for i := range 3 {
				uids = append(uids, s.add("alice", fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i), sdk.TagUnread))
			}
			b := newBackendT(t, &s, tt.opts)
			mb := login(t, b, "alice")
			messages(t, mb)
			err := mb.Update(ctx, uids[:2], uids[2:])
			if (err != nil) != tt.wantErr {
				t.Fatalf("Update: %v, want error %v (tags now %s)", err, tt.wantErr, s.tags("alice"))
			}
			if lost := errors.Is(err, pop3server.ErrMaildropLost); lost != tt.wantLost {
				t.Fatalf("Update: %v; maildrop lost (\"nothing was changed\") %v, want %v", err, lost, tt.wantLost)
			}
			if err != nil && strings.Contains(err.Error(), "partly") != (!tt.wantLost) {
				t.Errorf("error %q", err)
			}
		})
	}
}
