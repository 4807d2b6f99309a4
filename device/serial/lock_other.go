//go:build !linux

package serial

// portLock is a no-op off Linux: Windows opens COM ports exclusively for
// everyone, and the agent's field systems are Linux.
type portLock struct{}

func lockPort(string) (*portLock, error) { return &portLock{}, nil }

func (*portLock) release() error { return nil }

// lockedError is never returned off Linux.
type lockedError struct {
	path string
	pid  int
	err  error
}

func (e *lockedError) Error() string { return e.path + " is locked by another process" }
func (e *lockedError) Unwrap() error { return e.err }

func describePid(int) string { return "another process" }
