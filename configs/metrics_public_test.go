package configs

import (
	"errors"
	"strings"
	"testing"
)

func TestMetricsPublic(t *testing.T) {
	c, err := LoadBytes("t.yaml", []byte("device: {id: M1}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.MetricsPublic {
		t.Fatal("metrics are public by default; the token must be required")
	}
	if c, err = LoadBytes("t.yaml", []byte("device: {id: M1}\napi: {metrics_public: true}\n"), nil); err != nil || !c.API.MetricsPublic {
		t.Fatalf("metrics_public on loopback: %v %+v", err, c)
	}
	// Public metrics beyond this device are refused, naming the key.
	_, err = LoadBytes("t.yaml", []byte("device: {id: M1}\napi: {listen: 0.0.0.0:8700, allow_remote: true}\n"), []string{"PDA_API_METRICS_PUBLIC=true"})
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != "api.metrics_public" || !strings.Contains(ce.Fields[0].Msg, "bearer token") {
		t.Fatalf("metrics_public with allow_remote: %v", err)
	}
}
