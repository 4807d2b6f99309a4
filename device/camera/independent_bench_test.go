//go:build bench

package camera

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestIndependentFrames decodes the frames of the independent benchmark
// (scripts/camera-bench: rendered by bwip-js, not gozxing) with the
// agent's decoder, one frame at a time on one core, and writes
// agent.json beside them for the report. It only runs under the bench
// tag with PDA_CAMERA_BENCH_DIR set:
//
//	PDA_CAMERA_BENCH_DIR=/tmp/frames go test -tags bench -cpu 1 -run TestIndependentFrames ./device/camera/
func TestIndependentFrames(t *testing.T) {
	dir := os.Getenv("PDA_CAMERA_BENCH_DIR")
	if dir == "" {
		t.Skip("PDA_CAMERA_BENCH_DIR not set; scripts/camera-bench/run.sh sets it")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Frames []struct {
			File string `json:"file"`
			Text string `json:"text"`
		} `json:"frames"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	type result struct {
		File  string  `json:"file"`
		Found bool    `json:"found"`
		Text  *string `json:"text"`
		MS    float64 `json:"ms"`
		// CPUMS is the decoding thread's CPU time: unlike MS it does not
		// grow when other processes share the cores.
		CPUMS float64 `json:"cpu_ms"`
		// Step is what decoded it: 0 the first pass, k retry step k, -1
		// nothing (Decoder.step).
		Step int `json:"step"`
	}
	d := newTestDecoder(t, Config{})
	runtime.LockOSThread() // for threadCPU
	defer runtime.UnlockOSThread()
	out := make([]result, 0, len(m.Frames))
	for _, f := range m.Frames {
		img, err := readPGM(filepath.Join(dir, f.File))
		if err != nil {
			t.Fatal(err)
		}
		cpu0, _ := threadCPU()
		start := time.Now()
		res, ok := d.Decode(img)
		wall := time.Since(start)
		cpu1, cpuOK := threadCPU()
		r := result{File: f.File, MS: float64(wall.Microseconds()) / 1000, CPUMS: float64(wall.Microseconds()) / 1000, Step: d.step}
		if cpuOK {
			r.CPUMS = float64((cpu1 - cpu0).Microseconds()) / 1000
		}
		if ok {
			r.Text = &res.Text
			r.Found = res.Text == f.Text
		}
		out = append(out, r)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "agent.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readPGM reads an 8-bit binary PGM (P5) as the generator writes it.
func readPGM(path string) (*image.Gray, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w, h, maxv int
	r := bytes.NewReader(b)
	if _, err := fmt.Fscanf(r, "P5\n%d %d\n%d\n", &w, &h, &maxv); err != nil || maxv != 255 {
		return nil, fmt.Errorf("%s: not an 8-bit P5 PGM: %v", path, err)
	}
	pix := b[len(b)-r.Len():]
	if len(pix) != w*h {
		return nil, fmt.Errorf("%s: %d pixel bytes for %dx%d", path, len(pix), w, h)
	}
	return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}, nil
}
