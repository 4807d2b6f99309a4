package serial

import (
	"bytes"
	"testing"
)

func FuzzFramer(f *testing.F) {
	f.Add([]byte("]d2010695\x1d21ABC\r\n"), []byte{}, []byte("\r\n"), uint16(512), byte(1))
	f.Add([]byte("\x02ABC\x03\x02DEF\x03\x00\x00XYZ\x03"), []byte{0x02}, []byte{0x03}, uint16(8), byte(3))
	f.Add([]byte("ABC\r\nDEF\nGHI\r"), []byte{}, []byte("\n"), uint16(3), byte(2))
	f.Add([]byte("AAB##A#B###C"), []byte("AB"), []byte("##"), uint16(2), byte(5))
	f.Add([]byte("8\x1d9\x00\x7f"), []byte("89"), []byte{}, uint16(1), byte(0))
	f.Fuzz(func(t *testing.T, data, prefix, suffix []byte, max uint16, split byte) {
		if len(prefix) > maxAffix || len(suffix) > maxAffix {
			return
		}
		limit := int(max%600) + 1
		check := func(fr []byte) {
			if len(fr) == 0 {
				t.Fatalf("empty frame")
			}
			if len(fr) > limit {
				t.Fatalf("frame of %d bytes, max %d: %q", len(fr), limit, fr)
			}
			switch string(suffix) {
			case "":
			case "\r\n":
				if bytes.ContainsAny(fr, "\r\n") {
					t.Fatalf("frame %q holds a line end under a CRLF suffix", fr)
				}
			default:
				if bytes.Contains(fr, suffix) {
					t.Fatalf("frame %q holds suffix %q", fr, suffix)
				}
			}
		}
		// All at once, then in chunks of split%7+1: same result.
		var whole [][]byte
		a := NewFramer(prefix, suffix, limit)
		frames, errsA := a.Feed(data)
		whole = append(whole, frames...)
		if fr, ok := a.Flush(); ok {
			whole = append(whole, fr)
		}
		b := NewFramer(prefix, suffix, limit)
		var chunked [][]byte
		nerr := 0
		step := int(split%7) + 1
		for i := 0; i < len(data); i += step {
			frames, errs := b.Feed(data[i:min(i+step, len(data))])
			chunked = append(chunked, frames...)
			nerr += len(errs)
		}
		if fr, ok := b.Flush(); ok {
			chunked = append(chunked, fr)
		}
		for _, fr := range whole {
			check(fr)
		}
		if len(whole) != len(chunked) || nerr != len(errsA) {
			t.Fatalf("split changes the result: %q (%d errors) vs %q (%d errors)", whole, len(errsA), chunked, nerr)
		}
		for i := range whole {
			if !bytes.Equal(whole[i], chunked[i]) {
				t.Fatalf("split changes frame %d: %q vs %q", i, whole[i], chunked[i])
			}
		}
		if b.Pending() != 0 {
			t.Fatalf("pending %d after Flush", b.Pending())
		}
	})
}
