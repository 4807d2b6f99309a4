//go:build windows

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// serviceName is the agent's name in the service control manager.
const serviceName = "pda-agent"

// On a Windows counter PC the agent runs as a service: the SCM starts
// `pda-agent service run --config FILE`, which runs exactly what `run` does
// and cancels it on Stop or Shutdown.

func newServiceCmd() *cobra.Command {
	s := &cobra.Command{
		Use:   "service",
		Short: "Run the agent as a Windows service: install, uninstall, start, stop",
		Long: `service installs pda-agent as a Windows service (automatic start, restarted
after a failure), removes it, starts and stops it. Run it from an
administrator prompt. The service runs 'pda-agent service run --config
FILE' as LocalSystem; its log goes to log.file, or <data_dir>\pda-agent.log
when that is empty.`,
	}
	var path string
	install := &cobra.Command{
		Use:   "install --config FILE",
		Short: "Register the service (automatic start) for this config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return installService(cmd, path)
		},
	}
	configFlag(install, &path)
	run := &cobra.Command{
		Use:    "run --config FILE",
		Short:  "Run under the service control manager (what the service starts)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runService(cmd, path)
		},
	}
	configFlag(run, &path)
	control := func(use, short string, fn func(*mgr.Service, io.Writer) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				m, err := mgr.Connect()
				if err != nil {
					return fmt.Errorf("service control manager: %w (run as administrator)", err)
				}
				defer m.Disconnect()
				s, err := m.OpenService(serviceName)
				if err != nil {
					return fmt.Errorf("service %s: %w (install it first: pda-agent service install --config FILE)", serviceName, err)
				}
				defer s.Close()
				return fn(s, cmd.OutOrStdout())
			}}
	}
	s.AddCommand(install, run,
		control("uninstall", "Stop and remove the service (the data directory stays)", uninstallService),
		control("start", "Start the service and wait until it runs", startService),
		control("stop", "Stop the service and wait until it has stopped", stopService))
	return s
}

// installService validates the config (offline, as systemd's ExecStartPre
// does), protects the data directory and registers the service.
func installService(cmd *cobra.Command, path string) error {
	c, err := loadConfig(path, true)
	if err != nil {
		return err
	}
	cfgPath, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(c.DataDir) {
		return &exitError{code: exitConfig, err: fmt.Errorf("data_dir %q is not an absolute Windows path: a service runs in C:\\Windows\\System32; set e.g. data_dir: C:\\ProgramData\\pda-agent", c.DataDir)}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := protectDir(c.DataDir); err != nil {
		return fmt.Errorf("data directory %s: %w", c.DataDir, err)
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service control manager: %w (run as administrator)", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return fmt.Errorf("service %s is already installed (pda-agent service uninstall first)", serviceName)
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName:  "pda-agent (药品追溯码)",
		Description:  "Reads drug trace codes from the scanners, keeps them in a durable queue and uploads bills to 码上放心 and 医保.",
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
	}, "service", "run", "--config", cfgPath)
	if err != nil {
		return fmt.Errorf("create service: %w", err)
	}
	defer s.Close()
	// Restart after a failure, as systemd's Restart=always: a counter PC
	// has nobody to notice a stopped agent.
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		return fmt.Errorf("service recovery actions: %w", err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("service recovery actions: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "installed service %s: %s service run --config %s\nstart it with: pda-agent service start\n", serviceName, exe, cfgPath)
	return nil
}

// protectDir creates the data directory and gives it to SYSTEM and the
// administrators only: files there (the queue, the API token) carry no
// useful permission bits on Windows, and ProgramData lets every user read.
func protectDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

func uninstallService(s *mgr.Service, out io.Writer) error {
	if err := stopService(s, io.Discard); err != nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete service: %w", err)
	}
	fmt.Fprintf(out, "removed service %s (the data directory and its queue stay)\n", serviceName)
	return nil
}

func startService(s *mgr.Service, out io.Writer) error {
	if err := s.Start(); err != nil {
		return fmt.Errorf("start service: %w", err)
	}
	if err := waitState(s, svc.Running, time.Minute); err != nil {
		return err
	}
	fmt.Fprintf(out, "service %s running\n", serviceName)
	return nil
}

func stopService(s *mgr.Service, out io.Writer) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("query service: %w", err)
	}
	if st.State != svc.Stopped {
		if _, err := s.Control(svc.Stop); err != nil {
			return fmt.Errorf("stop service: %w", err)
		}
		if err := waitState(s, svc.Stopped, time.Minute); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "service %s stopped\n", serviceName)
	return nil
}

func waitState(s *mgr.Service, want svc.State, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query service: %w", err)
		}
		if st.State == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s did not reach state %d within %s (now %d): see its log", serviceName, want, within, st.State)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// runService is the service's process. Under the SCM it reports to it and
// runs the agent until Stop or Shutdown; started by hand (a console) it
// runs like `pda-agent run`, which helps when a service will not start.
func runService(cmd *cobra.Command, path string) error {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if !isService {
		return runAgentCmd(cmd.Context(), path, cmd.ErrOrStderr())
	}
	c, err := loadConfig(path, true)
	if err != nil {
		return err // the SCM records the exit; `pda-agent validate` says why
	}
	// A service has no stderr: without log.file, the log goes beside the
	// queue, rotated.
	logw := io.Writer(io.Discard)
	if c.Log.File == "" {
		if rl, err := rotatingLog(c.Log, filepath.Join(c.DataDir, "pda-agent.log")); err == nil {
			logw = rl
		}
	}
	return svc.Run(serviceName, &agentService{run: func(ctx context.Context) error { return runAgentCmd(ctx, path, logw) }, log: logw})
}

// runAgentCmd runs `pda-agent run --config path` with ctx: cancelling it
// stops the agent as SIGTERM would.
func runAgentCmd(ctx context.Context, path string, stderr io.Writer) error {
	rc := newRunCmd()
	rc.SetArgs([]string{"--config", path})
	rc.SetErr(stderr)
	rc.SetOut(io.Discard)
	rc.SetIn(strings.NewReader(""))
	rc.SilenceUsage, rc.SilenceErrors = true, true
	return rc.ExecuteContext(ctx)
}

// agentService answers the SCM while the agent runs.
type agentService struct {
	run func(context.Context) error
	log io.Writer
}

// stopWait is the wait hint given to the SCM while the agent stops; it
// answers in-flight scans and records in-flight uploads first.
const stopWait = 30 * time.Second

func (a *agentService) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	accepts := svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case err := <-done:
			// The agent ended by itself: a failure for the recovery
			// actions to restart.
			if err == nil {
				err = errors.New("the agent stopped without being asked")
			}
			fmt.Fprintf(a.log, "pda-agent service: %v\n", err)
			status <- svc.Status{State: svc.StopPending}
			return true, exitFailure
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32(stopWait.Milliseconds())}
				cancel()
				if err := <-done; err != nil {
					fmt.Fprintf(a.log, "pda-agent service: stopped with: %v\n", err)
					return true, exitFailure
				}
				return false, 0
			}
		}
	}
}
