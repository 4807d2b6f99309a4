package configs

import (
	"errors"
	"testing"
	"time"
)

func TestLogFileKeys(t *testing.T) {
	c, err := LoadBytes("defaults", []byte("device: {id: L1}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Log; l.File != "" || l.MaxSize != 10<<20 || l.MaxBackups != 5 || l.MaxAge != 0 || l.Compress {
		t.Fatalf("defaults %+v", l)
	}
	good := []string{
		"log: {file: /var/log/pda-agent/pda-agent.log, max_size: 1MiB, max_backups: 0, max_age: 168h, compress: true}",
		`log: {file: 'C:\ProgramData\pda-agent\pda-agent.log'}`,
		`log: {file: '\\server\logs\pda.log', max_size: 20MiB}`,
	}
	for _, y := range good {
		if _, err := LoadBytes("good.yaml", []byte("device: {id: L1}\n"+y+"\n"), nil); err != nil {
			t.Errorf("%s: %v", y, err)
		}
	}
	for y, key := range map[string]string{
		"log: {file: pda-agent.log}":                       "log.file",
		"log: {max_size: 512KiB}":                          "log.max_size",
		"log: {max_size: 1500KiB}":                         "log.max_size",
		"log: {max_backups: -1}":                           "log.max_backups",
		"log: {max_age: 36h}":                              "log.max_age",
		"log: {file: /var/log/p.log, max_backups: 0}":      "log.max_backups",
		"log: {file: /var/log/p.log, max_age: 1d}":         "log.max_age",
		"log: {file: /var/log/p.log, compress: sometimes}": "log.compress",
	} {
		_, err := LoadBytes("bad.yaml", []byte("device: {id: L1}\n"+y+"\n"), nil)
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != key {
			t.Errorf("%s: %v, want one problem at %s", y, err, key)
		}
	}
	// The environment sets them too, as any key.
	c, err = LoadBytes("env", []byte("device: {id: L1}\n"), []string{"PDA_LOG_FILE=/tmp/x.log", "PDA_LOG_MAX_AGE=720h"})
	if err != nil || c.Log.File != "/tmp/x.log" || c.Log.MaxAge != 30*24*time.Hour {
		t.Fatalf("env: %v %+v", err, c)
	}
}
