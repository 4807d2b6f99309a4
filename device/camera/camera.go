// Package camera is a scan source that decodes Data Matrix, QR and Code 128
// (GS1 forms included) from a V4L2 camera, with gozxing, the pure-Go port
// of ZXing.
//
// The pieces, from the hardware inwards:
//
//   - FrameSource delivers raw frames (YUYV, GREY or MJPEG). The V4L2
//     implementation (blackjack/webcam) is Linux-only; tests use fakes.
//   - The capture loop in Source.Run keeps only the newest frame, so a slow
//     decode or a slow Handler drops frames instead of queueing them.
//   - Decoder finds and decodes a code in a grey frame: the centred aiming
//     region first, then wider searches. gozxing's Data Matrix detector
//     grows a rectangle from the centre of the image it is given and misses
//     codes that do not cover that centre, so the wider Data Matrix search
//     runs on a grid of overlapping tiles, each re-centred on what is dark
//     inside it.
//   - A code held under the camera is reported once: the same text seen
//     again within RepeatWindow of the last time it was seen is dropped.
//
// Decoded GS1 data looks the same from every symbology: the AIM identifier
// ("]d2", "]C1", "]Q3") goes in device.Scan.Symbology, Raw holds the data
// without the leading FNC1, and later FNC1 separators are GS (0x1D).
package camera

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Symbology names a code type the camera decodes.
type Symbology string

// The symbologies the camera decodes.
const (
	DataMatrix Symbology = "datamatrix"
	QR         Symbology = "qr"
	Code128    Symbology = "code128"
)

// Frame formats (V4L2 fourcc names).
const (
	FormatYUYV  = "YUYV"
	FormatGREY  = "GREY"
	FormatMJPEG = "MJPG"
)

// Defaults applied to zero Config fields.
const (
	DefaultDevice       = "/dev/video0"
	DefaultWidth        = 640
	DefaultHeight       = 480
	DefaultROI          = 0.6
	DefaultTiles        = 3
	DefaultRepeatWindow = 1500 * time.Millisecond
	DefaultFrameTimeout = 2 * time.Second
)

// MaxTiles bounds the tile grid: beyond 8×8 the tiles are smaller than a
// code at any useful resolution and a miss costs too much.
const MaxTiles = 8

// maxSide bounds frame sizes accepted from config and from frames.
const maxSide = 8192

// Config configures a camera source. Zero fields take the defaults above.
type Config struct {
	// Device is the V4L2 device node; default /dev/video0.
	Device string
	// Width and Height are the requested frame size; default 640×480. The
	// closest size the camera offers is used.
	Width, Height int
	// Format is the frame format: YUYV (default), GREY or MJPEG (also
	// spelt MJPG). YUYV and GREY are read as luminance without colour
	// conversion; MJPEG frames are decoded with image/jpeg (it costs a few
	// milliseconds a frame, but USB 2 cameras often only reach 30 frames/s
	// at 1280×720 in MJPEG).
	Format string
	// Symbologies are tried in this order in each search area; default
	// datamatrix, qr, code128.
	Symbologies []Symbology
	// ROI is the centred aiming region as a share of each side
	// (0 < ROI ≤ 1), decoded first; 0 means the default 0.6.
	ROI float64
	// Tiles is N for the N×N grid of overlapping tiles searched for a Data
	// Matrix code after the aiming region misses. 0 means the default 3;
	// a negative value turns tiling off (0 cannot mean off: a config file
	// that omits the key yields 0).
	Tiles int
	// RepeatWindow: the same code seen again within this long of the last
	// time it was seen is the same scan; a code held under the camera is
	// one scan, and can be scanned again once it has been out of view this
	// long. Default 1.5s.
	RepeatWindow time.Duration
	// FrameTimeout is how long to wait for a frame before counting a
	// timeout; default 2s. V4L2 waits in whole seconds, so it is rounded
	// up to a second there.
	FrameTimeout time.Duration
}

// Validate checks the config. Zero values are valid (they take defaults).
func (c Config) Validate() error {
	_, err := c.normalize()
	return err
}

// normalize validates c and fills in the defaults.
func (c Config) normalize() (Config, error) {
	if c.Device == "" {
		c.Device = DefaultDevice
	}
	switch {
	case c.Width == 0 && c.Height == 0:
		c.Width, c.Height = DefaultWidth, DefaultHeight
	case c.Width <= 0 || c.Height <= 0:
		return c, fmt.Errorf("camera: width and height must both be set and positive; got %dx%d", c.Width, c.Height)
	case c.Width < minFrameSide || c.Height < minFrameSide || c.Width > maxSide || c.Height > maxSide:
		return c, fmt.Errorf("camera: frame size %dx%d out of range %d..%d", c.Width, c.Height, minFrameSide, maxSide)
	}
	f, err := normalizeFormat(c.Format)
	if err != nil {
		return c, err
	}
	c.Format = f
	if len(c.Symbologies) == 0 {
		c.Symbologies = []Symbology{DataMatrix, QR, Code128}
	} else {
		syms := make([]Symbology, 0, len(c.Symbologies))
		for _, s := range c.Symbologies {
			s = Symbology(strings.ToLower(strings.TrimSpace(string(s))))
			switch s {
			case DataMatrix, QR, Code128:
			default:
				return c, fmt.Errorf("camera: unknown symbology %q (want datamatrix, qr or code128)", s)
			}
			if !slices.Contains(syms, s) {
				syms = append(syms, s)
			}
		}
		c.Symbologies = syms
	}
	switch {
	case math.IsNaN(c.ROI) || c.ROI < 0 || c.ROI > 1:
		return c, fmt.Errorf("camera: roi must be in (0, 1]; got %v", c.ROI)
	case c.ROI == 0:
		c.ROI = DefaultROI
	}
	switch {
	case c.Tiles > MaxTiles:
		return c, fmt.Errorf("camera: tiles must be at most %d; got %d", MaxTiles, c.Tiles)
	case c.Tiles == 0:
		c.Tiles = DefaultTiles
	case c.Tiles < 0:
		c.Tiles = -1
	}
	if c.RepeatWindow < 0 || c.FrameTimeout < 0 {
		return c, errors.New("camera: repeat_window and frame_timeout must not be negative")
	}
	if c.RepeatWindow == 0 {
		c.RepeatWindow = DefaultRepeatWindow
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	return c, nil
}

func normalizeFormat(f string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(f)) {
	case "", FormatYUYV, "YUY2":
		return FormatYUYV, nil
	case FormatGREY, "GRAY", "Y8", "Y800":
		return FormatGREY, nil
	case FormatMJPEG, "MJPEG", "JPEG":
		return FormatMJPEG, nil
	}
	return "", fmt.Errorf("camera: format %q not supported (want YUYV, GREY or MJPEG)", f)
}
