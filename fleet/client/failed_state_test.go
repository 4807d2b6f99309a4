package client

import (
	"errors"
	"testing"
)

// The state says which version failed and when, so the agent can tell a
// failure since the last good apply from an old one.
func TestFailureVersionAndTime(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	rec := &recorder{}
	c := newClient(t, testConfig(t, ks, srv.URL, t.TempDir(), &logBuf{}), rec)
	v1, h1 := ks.sealed(t, 1)
	hq.stage(v1, h1)
	mustPoll(t, c, StatusApplied)

	v2, h2 := ks.sealed(t, 2)
	hq.stage(v2, h2)
	rec.set(errors.New("scanner serial0 did not come back; reverted"))
	mustPoll(t, c, StatusFailed)
	st := c.State()
	if st.LastFailedVersion != 2 || !st.LastFailedAt.After(st.AppliedAt) || st.AppliedVersion != 1 {
		t.Fatalf("after a revert: %+v", st)
	}

	rec.set(nil)
	v3, h3 := ks.sealed(t, 3)
	hq.stage(v3, h3)
	mustPoll(t, c, StatusApplied)
	if st := c.State(); !st.AppliedAt.After(st.LastFailedAt) || st.AppliedVersion != 3 {
		t.Fatalf("after a good apply: %+v", st)
	}
}
