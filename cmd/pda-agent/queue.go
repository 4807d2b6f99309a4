package main

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/queue"
)

func newQueueCmd() *cobra.Command {
	q := &cobra.Command{Use: "queue", Short: "Inspect and maintain the queue file (agent stopped)"}
	var path string
	stats := &cobra.Command{
		Use:   "stats --config FILE",
		Short: "Print the queue's state as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			s, err := queue.Open(c.QueuePath(), queue.Options{MaxSize: int64(c.Queue.MaxSize), BillPrefix: c.Device.ID,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.Stats()
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(struct {
				queue.Stats
				Alarms []queue.Alarm `json:"alarm_list,omitempty"`
			}{st, s.Alarms()})
		},
	}
	configFlag(stats, &path)
	compact := &cobra.Command{
		Use:   "compact --config FILE",
		Short: "Rewrite the queue file without its free pages",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			before, after, err := queue.Compact(c.QueuePath(), queue.Options{})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "compacted %s: %d → %d bytes\n", c.QueuePath(), before, after)
			return nil
		},
	}
	configFlag(compact, &path)
	q.AddCommand(stats, compact)
	return q
}
