package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/pda-agent/pda-agent/configs"
)

// logOutput is where the agent's log goes: log.file, rotated by the agent
// itself, or w (stderr: journald or a terminal) when none is set. A file
// that cannot be written is reported and w is used instead: the agent
// must not refuse to scan over its log.
func logOutput(l configs.Log, w io.Writer) (io.Writer, error) {
	if l.File == "" {
		return w, nil
	}
	rl, err := rotatingLog(l, l.File)
	if err != nil {
		return w, err
	}
	return rl, nil
}

// rotatingLog opens (creating) the log file at path with l's rotation
// settings. It checks up front that the file can be written, since the
// rotator only finds out at the first line and slog drops write errors.
func rotatingLog(l configs.Log, path string) (*lumberjack.Logger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("log file directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return &lumberjack.Logger{
		Filename:   path,
		MaxSize:    int(l.MaxSize >> 20), // validated: whole MiB
		MaxBackups: l.MaxBackups,
		MaxAge:     int(l.MaxAge / (24 * time.Hour)), // validated: whole days
		Compress:   l.Compress,
		LocalTime:  true, // rotated names in the device's time, as an operator reads them
	}, nil
}
