package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/device/camera"
	"github.com/pda-agent/pda-agent/device/hid"
	"github.com/pda-agent/pda-agent/device/serial"
	"github.com/pda-agent/pda-agent/device/tcp"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/nhsa"
)

// buildSource makes the scan source a scanner config describes. It opens
// nothing: sources open their hardware when they run, so a missing device
// never stops the agent from starting.
func buildSource(sc configs.Scanner, o Options) (device.Source, error) {
	log := o.Logger.With("scanner", sc.Name)
	switch sc.Type {
	case "stdin":
		l := &device.Lines{SourceName: sc.Name, Reader: o.Stdin, Now: o.Now}
		if sc.Echo {
			l.Echo = o.Stdout
		}
		return l, nil
	case "replay":
		return &replayFile{name: sc.Name, path: sc.Path, now: o.Now}, nil
	case "tcp":
		return tcp.New(sc.Name, tcp.Config{Listen: sc.TCP.Listen, MaxConns: sc.TCP.MaxConns, Reply: sc.TCP.Reply,
			AllowRemote: sc.TCP.AllowRemote, IdleTimeout: sc.TCP.IdleTimeout}, log)
	case "serial":
		c, err := serialConfig(sc.Serial)
		if err != nil {
			return nil, err
		}
		return serial.New(sc.Name, c, log)
	case "hid":
		c, err := hidConfig(sc.HID)
		if err != nil {
			return nil, err
		}
		return hid.New(sc.Name, c, log)
	case "camera":
		return camera.New(sc.Name, cameraConfig(sc.Camera), log)
	}
	return nil, fmt.Errorf("unknown scanner type %q", sc.Type)
}

func serialConfig(s configs.SerialScanner) (serial.Config, error) {
	c := serial.Config{Port: s.Port, USBVID: s.USBVID, USBPID: s.USBPID, USBSerial: s.USBSerial,
		Baud: s.Baud, DataBits: s.DataBits, Parity: s.Parity, StopBits: s.StopBits,
		IdleTimeout: s.IdleTimeout, ReconnectMin: s.ReconnectMin, ReconnectMax: s.ReconnectMax}
	var err error
	if c.Prefix, err = serial.ParseTerminator(s.Prefix); err != nil {
		return c, fmt.Errorf("serial.prefix: %w", err)
	}
	suffix := s.Suffix
	if suffix == "" {
		suffix = "CR"
	}
	if c.Suffix, err = serial.ParseTerminator(suffix); err != nil {
		return c, fmt.Errorf("serial.suffix: %w", err)
	}
	return c, c.Validate()
}

func hidConfig(h configs.HIDScanner) (hid.Config, error) {
	vid, err := parseHex16(h.VID)
	if err != nil {
		return hid.Config{}, fmt.Errorf("hid.vid: %w", err)
	}
	pid, err := parseHex16(h.PID)
	if err != nil {
		return hid.Config{}, fmt.Errorf("hid.pid: %w", err)
	}
	iface := -1
	if h.Interface != nil {
		iface = *h.Interface
	}
	c := hid.Config{VID: vid, PID: pid, Interface: iface, Serial: h.Serial, Mode: hid.Mode(h.Mode),
		Layout: h.Layout, ReportID: h.ReportID, TabEnds: h.TabEnds, IdleTimeout: h.IdleTimeout, PollInterval: h.PollInterval}
	if c.Mode == "" {
		c.Mode = "keyboard"
	}
	return c, c.Validate()
}

func parseHex16(s string) (uint16, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x"), 16, 16)
	if err != nil {
		return 0, fmt.Errorf("want a 4-digit hex USB id like 05E0; got %q", s)
	}
	return uint16(v), nil
}

func cameraConfig(c configs.CameraScanner) camera.Config {
	out := camera.Config{Device: c.Device, Width: c.Width, Height: c.Height, Format: c.Format,
		ROI: c.ROI, Tiles: c.Tiles, RepeatWindow: c.RepeatWindow}
	for _, s := range c.Symbologies {
		out.Symbologies = append(out.Symbologies, camera.Symbology(s))
	}
	return out
}

// Check validates offline what the config loader cannot: each scanner's
// type-specific settings, the nhsa keys and settings, the catalogue files.
// Nothing is opened on the network or the devices; `pda-agent validate`
// runs it.
func Check(cfg *configs.Config) []configs.FieldError {
	var out []configs.FieldError
	o := Options{Logger: slog.New(slog.DiscardHandler), Stdin: os.Stdin, Stdout: os.Stdout, Now: time.Now}
	for i, sc := range cfg.Scanners {
		if _, err := buildSource(sc, o); err != nil {
			out = append(out, configs.FieldError{Key: fmt.Sprintf("scanners[%d] (%s)", i, sc.Name), Msg: err.Error()})
		}
	}
	cat, err := catalogue.Load(cfg.Catalogue.Products, cfg.Catalogue.Partners)
	if err != nil {
		out = append(out, configs.FieldError{Key: "catalogue", Msg: err.Error()})
	}
	if cfg.NHSA.Enabled {
		c, err := nhsaConfig(cfg.NHSA, nil, cat)
		if err == nil {
			c.Sequence = func(context.Context) (uint64, error) { return 0, nil }
			c.Items = func(context.Context, string) ([]queue.Item, bool, error) { return nil, false, nil }
			_, err = nhsa.New(c)
		}
		if err != nil {
			out = append(out, configs.FieldError{Key: "nhsa", Msg: err.Error()})
		}
	}
	return out
}

// binding is a running source with the session it feeds.
type binding struct {
	src     device.Source
	session string
	dedupe  time.Duration
}

// runSource runs one source until ctx ends. A source that fails is started
// again after a pause (its own reconnect logic handles unplugging; this
// catches everything else), so one broken scanner never stops the others.
func (a *Agent) runSource(ctx context.Context, b binding) {
	name := b.src.Name()
	h := func(ctx context.Context, s device.Scan) device.Feedback { return a.HandleScan(ctx, b.session, s) }
	h = device.Debounce(b.dedupe, h, func(s device.Scan) {
		a.mu.Lock()
		a.suppressed[name]++
		a.mu.Unlock()
		a.feedback(b.session, s, device.Feedback{Status: device.StatusDuplicate, Reason: "double_read", Message: "double read ignored"})
	})
	pause := time.Second
	for {
		err := b.src.Run(ctx, h)
		if ctx.Err() != nil {
			return
		}
		if err == nil || errors.Is(err, context.Canceled) {
			a.log.Info("scanner finished", "scanner", name)
			return
		}
		a.log.Error("scanner stopped; restarting", "scanner", name, "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, time.Minute)
	}
}

// Scanners reports the health of every scan source, by name.
func (a *Agent) Scanners() []device.Health {
	a.applyMu.Lock()
	bs := append([]binding(nil), a.extra...)
	for _, rs := range a.srcs {
		bs = append(bs, rs.b)
	}
	a.applyMu.Unlock()
	sort.Slice(bs, func(i, j int) bool { return bs[i].src.Name() < bs[j].src.Name() })
	out := []device.Health{}
	for _, b := range bs {
		h := device.Health{Name: b.src.Name(), Kind: "lines", Connected: true}
		if r, ok := b.src.(device.Reporter); ok {
			h = r.Health()
		}
		a.mu.Lock()
		h.Suppressed += a.suppressed[h.Name]
		a.mu.Unlock()
		out = append(out, h)
	}
	return out
}
