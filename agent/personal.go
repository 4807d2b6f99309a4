package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/keyfile"
	"github.com/pda-agent/pda-agent/queue"
)

// PersonalKey loads the key that encrypts personal data in the queue
// (configs.Config.QueuePersonalKeyFile). The agent creates it on first
// start (create); a tool reading the file of a stopped agent does not, and
// gets nil when there is none: it then shows personal data as sealed.
func PersonalKey(cfg *configs.Config, create bool, log *slog.Logger) (*queue.PersonalKey, error) {
	path := cfg.QueuePersonalKeyFile()
	raw, created, err := keyfile.DataKey(path, queue.PersonalKeySize, create)
	if !create && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: personal-data key: %w", err)
	}
	k, err := queue.NewPersonalKey(raw)
	if err != nil {
		return nil, fmt.Errorf("agent: personal-data key %s: %w", path, err)
	}
	if created && log != nil {
		log.Info("created the personal-data key: personal data in the queue is encrypted with it; keep it apart from the queue file", "path", path, "key_id", k.ID())
	}
	return k, nil
}
