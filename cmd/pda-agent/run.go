package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/agent/api"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/fleet/client"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/keyfile"
)

func newRunCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the agent in the foreground until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			local, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			log := newLogger(local, cmd.ErrOrStderr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM) // cmd.Context: the Windows service cancels it on Stop
			defer stop()

			lc := agent.LocalConfig{Name: path, Data: data, Env: os.Environ()}
			cfg, keys, origin, err := startConfig(local, lc, log)
			if err != nil {
				return err
			}
			a, err := agent.New(cfg, agent.Options{Logger: log, Stdin: cmd.InOrStdin(), Stdout: cmd.OutOrStdout(), Version: version, Origin: origin})
			if err != nil {
				return err
			}
			log.Info("pda-agent started", "version", version, "device", cfg.Device.ID, "queue", cfg.QueuePath(), "scanners", len(cfg.Scanners))

			var wg sync.WaitGroup
			if keys != nil {
				fc, err := client.New(client.Config{URL: local.Fleet.URL, Static: local.Fleet.Static, ReportURL: local.Fleet.ReportURL,
					Device: local.Device.ID, DeviceKey: keys.device, HQKey: keys.hq, StateDir: local.FleetDir(),
					Interval: local.Fleet.Interval, Jitter: local.Fleet.Jitter, MaxBackoff: local.Fleet.MaxBackoff,
					Timeout: local.Fleet.Timeout, ReportInterval: local.Fleet.ReportInterval, Logger: log.With("component", "fleet")},
					a.FleetApplier(lc, local.FleetDir(), local.Fleet.HealthTimeout))
				if err != nil {
					a.Close()
					return err
				}
				a.SetFleetState(func() agent.FleetState { return fleetState(fc.State()) })
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := fc.Run(ctx); err != nil {
						log.Error("fleet client stopped", "err", err)
					}
				}()
			}
			if cfg.API.Enabled {
				o := api.Options{Listen: cfg.API.Listen, TokenFile: cfg.APITokenFile(), Logger: log.With("component", "api")}
				if cfg.API.LAN.Enabled {
					o.LAN = &api.LANOptions{Listen: cfg.API.LAN.Listen, CertFile: cfg.LANCertFile(), KeyFile: cfg.LANKeyFile(),
						DevicesFile: cfg.PairedDevicesFile()}
				}
				srv, err := api.New(a, o)
				if err != nil {
					a.Close()
					return err
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Scanning goes on without the API; the alarm says why.
					if err := srv.Run(ctx); err != nil {
						log.Error("ALARM: local API stopped", "err", err)
					}
				}()
			}
			runErr := a.Run(ctx)
			wg.Wait()
			closeErr := a.Close()
			log.Info("pda-agent stopped")
			if runErr != nil {
				return runErr
			}
			return closeErr
		},
	}
	configFlag(cmd, &path)
	return cmd
}

type fleetKeys struct {
	device *sm2.PrivateKey
	hq     *sm2.PublicKey
}

// loadFleetKeys reads the device key and HQ's public key.
func loadFleetKeys(c *configs.Config) (*fleetKeys, error) {
	data, err := os.ReadFile(c.FleetDeviceKey())
	if err != nil {
		return nil, fmt.Errorf("fleet device key: %w (make it with `pda-agent fleet init`)", err)
	}
	dev, err := gm.ParsePrivateKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("fleet device key %s: %w", c.FleetDeviceKey(), err)
	}
	hq, err := gm.ParsePublicKey(c.Fleet.HQKey)
	if err != nil {
		return nil, fmt.Errorf("fleet.hq_key: %w", err)
	}
	return &fleetKeys{device: dev, hq: hq}, nil
}

// startConfig is the config the agent starts with: the last bundle HQ sent
// that this device applied (known good), over the local file; the local
// file alone when there is none or it no longer builds. HQ being away never
// keeps the agent from starting. It also says where the config came from.
func startConfig(local *configs.Config, lc agent.LocalConfig, log *slog.Logger) (*configs.Config, *fleetKeys, agent.ConfigInfo, error) {
	localInfo := agent.ConfigInfo{Source: agent.ConfigLocal}
	if !local.Fleet.Enabled {
		return local, nil, localInfo, nil
	}
	keys, err := loadFleetKeys(local)
	if err != nil {
		return nil, nil, localInfo, &exitError{code: exitConfig, err: err}
	}
	b, secrets, err := client.Current(local.FleetDir(), keys.hq, local.Device.ID, keys.device)
	switch {
	case err != nil:
		log.Error("ALARM: the applied HQ bundle cannot be read; starting on the local config", "err", err)
		return local, keys, localInfo, nil
	case b == nil:
		log.Info("no HQ bundle applied yet; starting on the local config")
		return local, keys, localInfo, nil
	}
	cfg, err := agent.ConfigFromBundle(b, secrets, lc, local.FleetDir())
	if err == nil {
		if problems := agent.Check(cfg); len(problems) > 0 {
			err = &configs.Error{Source: "HQ bundle", Fields: problems}
		}
	}
	if err != nil {
		log.Error("ALARM: the applied HQ bundle no longer builds a valid config; starting on the local config", "version", b.Body.Version, "err", err)
		return local, keys, localInfo, nil
	}
	log.Info("starting on the HQ config", "version", b.Body.Version, "hash", b.Hash)
	return cfg, keys, agent.ConfigInfo{Source: agent.ConfigFleet, Version: b.Body.Version, BundleHash: b.Hash}, nil
}

func newFleetCmd() *cobra.Command {
	f := &cobra.Command{Use: "fleet", Short: "Join chain HQ's configuration channel"}
	var path string
	initCmd := &cobra.Command{
		Use:   "init --config FILE",
		Short: "Make this device's key and print what HQ needs to enrol it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			keyFile := c.FleetDeviceKey()
			k, err := existingOrNewKey(keyFile)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "device %s key: %s (mode 0600)\n", c.Device.ID, keyFile)
			fmt.Fprintf(w, "enrol it at HQ with:\n  pda-hq enroll --device %s --store <store> --key %s\n", c.Device.ID, gm.PublicKeyBase64(&k.PublicKey))
			fmt.Fprintf(w, "fingerprint: %s\n", gm.Fingerprint(&k.PublicKey))
			return nil
		},
	}
	configFlag(initCmd, &path)
	f.AddCommand(initCmd)
	return f
}

// existingOrNewKey keeps a device key across re-runs: a new key would make
// every bundle HQ already encrypted for this device unreadable.
func existingOrNewKey(path string) (*sm2.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return gm.ParsePrivateKey(string(data))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return keyfile.NewSM2(path, false)
}

func newUICmd() *cobra.Command {
	var path, name, revoke string
	var pair, list bool
	cmd := &cobra.Command{
		Use:   "ui --config FILE [--pair [--name NAME] | --list | --revoke ID]",
		Short: "Print the clerk page's login link; pair, list and unpair handhelds (api.lan)",
		Long: `Without flags, ui prints the clerk page's login link for a browser on this device.

With api.lan enabled, --pair prints a one-time pairing link and its QR code:
open it in the handheld's browser (scan the QR code) within 10 minutes to pair
it. --list shows the paired handhelds, --revoke ID unpairs one. These ask the
running agent through its local API.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			if !c.API.Enabled {
				return &exitError{code: exitConfig, err: errors.New("api.enabled is false: the clerk page is served by the local API")}
			}
			modes := 0
			for _, on := range []bool{pair, list, revoke != ""} {
				if on {
					modes++
				}
			}
			if modes > 1 || (name != "" && !pair) {
				return &exitError{code: exitUsage, err: errors.New("use one of --pair (with --name), --list, --revoke ID")}
			}
			w := cmd.OutOrStdout()
			if modes == 0 {
				link, err := api.LoginLink(c.API.Listen, c.APITokenFile())
				if err != nil {
					return err
				}
				fmt.Fprintln(w, link)
				return nil
			}
			if !c.API.LAN.Enabled {
				return &exitError{code: exitConfig, err: errors.New("api.lan.enabled is false: handhelds are paired with the LAN listener (docs/handheld.md)")}
			}
			acc, err := dialAPI(cmd.Context(), c)
			if err != nil {
				return err
			}
			switch {
			case pair:
				var p api.Pairing
				if err := acc.call(cmd.Context(), http.MethodPost, "/v1/pairing", map[string]string{"name": name}, &p); err != nil {
					return err
				}
				fmt.Fprint(w, p.QRText)
				fmt.Fprintf(w, "pairing link (one use, until %s):\n  %s\n", p.Expires.Local().Format("2006-01-02 15:04:05 -07:00"), p.URL)
				fmt.Fprintf(w, "certificate fingerprint (SHA-256), check it on the handheld:\n  %s\n", p.Fingerprint)
			case list:
				var l struct {
					Fingerprint string             `json:"fingerprint_sha256"`
					Devices     []api.PairedDevice `json:"devices"`
				}
				if err := acc.call(cmd.Context(), http.MethodGet, "/v1/devices", nil, &l); err != nil {
					return err
				}
				fmt.Fprintf(w, "certificate fingerprint (SHA-256): %s\n", l.Fingerprint)
				if len(l.Devices) == 0 {
					fmt.Fprintln(w, "no paired handhelds")
					return nil
				}
				rows := [][]string{{"ID", "NAME", "PAIRED", "LAST SEEN"}}
				for _, d := range l.Devices {
					seen := "-"
					if d.LastSeen != nil {
						seen = d.LastSeen.Local().Format("2006-01-02 15:04:05 -07:00")
					}
					rows = append(rows, []string{d.ID, d.Name, d.PairedAt.Local().Format("2006-01-02 15:04:05 -07:00"), seen})
				}
				printTable(w, rows)
			default:
				if err := acc.call(cmd.Context(), http.MethodDelete, "/v1/devices/"+url.PathEscape(revoke), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(w, "handheld %s unpaired: its browser gets only the pairing page now\n", revoke)
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&pair, "pair", false, "print a one-time pairing link and QR code for a handheld")
	cmd.Flags().StringVar(&name, "name", "", "name of the handheld to pair (with --pair), e.g. 收货1")
	cmd.Flags().BoolVar(&list, "list", false, "list the paired handhelds")
	cmd.Flags().StringVar(&revoke, "revoke", "", "unpair the handheld with this ID")
	return cmd
}
