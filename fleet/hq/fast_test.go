package hq

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

// badSignature replaces the request's signature with a well-formed wrong
// one: a request that gets past it was not SM2-verified.
func badSignature(r *http.Request) {
	r.Header.Set(protocol.HeaderSignature, strings.Repeat("A", 86)+"==")
}

func TestPollTokenFastPath(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1", "P2": "S1"})
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)

	// A signed poll gets the bundle and a token.
	r := f.get(t, base, "P1", "")
	tok := r.header.Get(protocol.HeaderPollToken)
	etag := r.header.Get("ETag")
	if r.status != http.StatusOK || tok == "" || etag == "" {
		t.Fatalf("signed poll: %d token %q etag %q", r.status, tok, etag)
	}
	withToken := func(tok, inm string, edit func(*http.Request)) func(*http.Request) {
		return func(req *http.Request) {
			req.Header.Set(protocol.HeaderPollToken, tok)
			req.Header.Set("If-None-Match", inm)
			if edit != nil {
				edit(req)
			}
		}
	}
	get := func(id, tok, inm string, edit func(*http.Request)) response {
		return do(t, http.MethodGet, base+protocol.BundlePath(id), id, f.keys[id], f.clk.Now(), nil, withToken(tok, inm, edit))
	}

	// The token and the current ETag: 304 with no signature check at all.
	if r := get("P1", tok, etag, badSignature); r.status != http.StatusNotModified || r.header.Get("ETag") != etag {
		t.Fatalf("token poll: %d %s", r.status, r.body)
	}
	// The fast path refreshes last-seen: it is an authenticated poll.
	f.clk.Advance(time.Minute)
	before := f.clk.Now()
	if r := get("P1", tok, etag, badSignature); r.status != http.StatusNotModified {
		t.Fatalf("token poll: %d", r.status)
	}
	eventually(t, "last_seen from a token poll", func() bool { return !deviceStatus(t, f.st, "P1").LastSeen.Before(before) })

	// Whatever the token does not cover takes the full path, which checks
	// the signature: another ETag, another device, a forged or absent
	// token, a token moved to another device.
	for name, tc := range map[string]struct {
		id, tok, inm string
	}{
		"other etag":      {"P1", tok, `"0000"`},
		"forged token":    {"P1", tok[:len(tok)-2] + "AA", etag},
		"no token":        {"P1", "", etag},
		"other device":    {"P2", tok, etag},
		"garbage token":   {"P1", "x.y", etag},
		"future token":    {"P1", "99999999." + strings.SplitN(tok, ".", 2)[1], etag},
		"no day in token": {"P1", strings.SplitN(tok, ".", 2)[1], etag},
	} {
		if r := get(tc.id, tc.tok, tc.inm, badSignature); r.status != http.StatusUnauthorized || r.code != protocol.CodeAuthSignature {
			t.Errorf("%s: %d %s, want 401 auth_signature", name, r.status, r.body)
		}
	}

	// A token lasts the day it was issued and the next; then the device
	// pays one SM2 check and gets a new one.
	f.clk.Advance(24 * time.Hour)
	if r := get("P1", tok, etag, badSignature); r.status != http.StatusNotModified {
		t.Fatalf("token of yesterday: %d", r.status)
	}
	f.clk.Advance(24 * time.Hour)
	if r := get("P1", tok, etag, badSignature); r.status != http.StatusUnauthorized {
		t.Fatalf("token of two days ago: %d", r.status)
	}
	r = get("P1", tok, etag, nil) // properly signed
	fresh := r.header.Get(protocol.HeaderPollToken)
	if r.status != http.StatusNotModified || fresh == "" || fresh == tok {
		t.Fatalf("signed poll with an old token: %d, token %q", r.status, fresh)
	}
	if r := get("P1", fresh, etag, badSignature); r.status != http.StatusNotModified {
		t.Fatalf("fresh token: %d", r.status)
	}

	// A new publish changes the ETag: the old one no longer gets 304 from
	// the fast path once the server has reloaded; the bundle comes with
	// the full check.
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": "log: {level: warn}\nqueue: {max_batch: 100}\n"}), PublishOptions{})
	eventually(t, "reload after publish", func() bool {
		return get("P1", fresh, etag, badSignature).status == http.StatusUnauthorized
	})
	if r := get("P1", fresh, etag, nil); r.status != http.StatusOK || r.header.Get("ETag") == etag {
		t.Fatalf("after publish: %d etag %s", r.status, r.header.Get("ETag"))
	}

	// Re-enrolling with a new key revokes the token.
	k := genKey(t)
	if _, err := f.st.Enroll(Device{ID: "P1", Store: "S1", PublicKey: gm.PublicKeyBase64(&k.PublicKey)}); err != nil {
		t.Fatal(err)
	}
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{})
	f.keys["P1"] = k
	r = f.get(t, base, "P1", "")
	eventually(t, "reload after re-enrol", func() bool {
		r = f.get(t, base, "P1", "")
		return r.status == http.StatusOK
	})
	newEtag := r.header.Get("ETag")
	if r := get("P1", fresh, newEtag, badSignature); r.status != http.StatusUnauthorized {
		t.Errorf("token of the old key: %d", r.status)
	}
}

func TestPollKeyShared(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1"})
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{})
	key := bytes.Repeat([]byte{7}, 32)
	_, a := startServer(t, f.st, ServeOptions{Now: f.clk.Now, PollKey: key}, false)
	_, b := startServer(t, f.st, ServeOptions{Now: f.clk.Now, PollKey: key}, false)
	_, c := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, false)
	r := f.get(t, a, "P1", "")
	tok, etag := r.header.Get(protocol.HeaderPollToken), r.header.Get("ETag")
	poll := func(base string) int {
		return do(t, http.MethodGet, base+protocol.BundlePath("P1"), "P1", f.keys["P1"], f.clk.Now(), nil, func(req *http.Request) {
			req.Header.Set(protocol.HeaderPollToken, tok)
			req.Header.Set("If-None-Match", etag)
			badSignature(req)
		}).status
	}
	if s := poll(b); s != http.StatusNotModified {
		t.Errorf("replica with the same key: %d", s)
	}
	if s := poll(c); s != http.StatusUnauthorized {
		t.Errorf("replica with its own key: %d", s)
	}
	if _, err := NewServer(f.st, ServeOptions{PollKey: []byte("short")}); err == nil {
		t.Error("a 5-byte poll key was accepted")
	}
}

func TestCatalogueObjects(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1", "P2": "S2", "P3": "S2"})
	files := map[string]string{
		"chain.yaml":              chainYAML,
		"catalogue/products.csv":  "code,name\n8101235,chain\n",
		"catalogue/partners.csv":  "ent_id,name\n",
		"stores/S1.products.csv":  "code,name\n8101235,S1 only\n",
		"stores/S1.yaml":          "log: {level: debug}\n",
		"regions/unused.yaml":     "{}\n",
		"groups/counter-pc.yaml":  "{}\n",
		"devices/P3.yaml":         "{}\n",
		"catalogue/unrelated.txt": "x",
	}
	f.publish(t, writeTree(t, files), PublishOptions{})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)

	refs := map[string]*bundle.CatalogueRef{}
	for _, id := range []string{"P1", "P2", "P3"} {
		o := f.open(t, id, served(t, f.st, id), 0)
		if o.Body.Products != "" || o.Body.Partners != "" || o.Body.Catalogue == nil {
			t.Fatalf("%s: the bundle carries the catalogue inline or no reference: %+v", id, o.Body)
		}
		refs[id] = o.Body.Catalogue
	}
	if *refs["P2"] != *refs["P3"] || refs["P1"].SHA256 == refs["P2"].SHA256 {
		t.Fatalf("one object per content: %+v %+v %+v", refs["P1"], refs["P2"], refs["P3"])
	}
	if refs["P1"].Scope != "store:S1" || refs["P2"].Scope != "chain" || refs["P2"].Version != 1 {
		t.Errorf("refs %+v %+v", refs["P1"], refs["P2"])
	}

	// Served by address, immutable, verifiable with the HQ key.
	get := func(sha, inm string) response {
		return do(t, http.MethodGet, base+protocol.CataloguePath(sha), "", nil, time.Time{}, nil, func(r *http.Request) {
			if inm != "" {
				r.Header.Set("If-None-Match", inm)
			}
		})
	}
	r := get(refs["P1"].SHA256, "")
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Cache-Control"), "immutable") || r.header.Get("ETag") != `"`+refs["P1"].SHA256+`"` {
		t.Fatalf("GET catalogue: %d %v", r.status, r.header)
	}
	if int64(len(r.body)) != refs["P1"].Size {
		t.Errorf("size %d, ref says %d", len(r.body), refs["P1"].Size)
	}
	body, err := catalogue.OpenSigned(r.body, &f.hq.PublicKey, refs["P1"].SHA256)
	if err != nil || body.Products != "code,name\n8101235,S1 only\n" || body.Scope != "store:S1" {
		t.Fatalf("catalogue %+v %v", body, err)
	}
	if r := get(refs["P1"].SHA256, `"`+refs["P1"].SHA256+`"`); r.status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", r.status)
	}
	if r := get(strings.Repeat("0", 64), ""); r.status != http.StatusNotFound {
		t.Errorf("unknown catalogue: %d", r.status)
	}
	other := genKey(t)
	if _, err := catalogue.OpenSigned(r.body, &other.PublicKey, ""); err == nil {
		t.Error("a catalogue verified with another key")
	}

	// A publish that changes only the config keeps the catalogue (and its
	// address: devices fetch nothing); changing the products makes a new
	// object with a new version.
	files["chain.yaml"] = "log: {level: warn}\nqueue: {max_batch: 100}\n"
	f.publish(t, writeTree(t, files), PublishOptions{})
	if o := f.open(t, "P2", served(t, f.st, "P2"), 1); *o.Body.Catalogue != *refs["P2"] {
		t.Errorf("unchanged catalogue re-issued: %+v, was %+v", o.Body.Catalogue, refs["P2"])
	}
	files["catalogue/products.csv"] = "code,name\n8101235,chain v3\n"
	f.publish(t, writeTree(t, files), PublishOptions{})
	o := f.open(t, "P2", served(t, f.st, "P2"), 2)
	if o.Body.Catalogue.SHA256 == refs["P2"].SHA256 || o.Body.Catalogue.Version != 3 {
		t.Errorf("changed catalogue: %+v", o.Body.Catalogue)
	}
	if p1 := f.open(t, "P1", served(t, f.st, "P1"), 2); *p1.Body.Catalogue != *refs["P1"] {
		t.Errorf("S1's own catalogue changed with the chain's: %+v", p1.Body.Catalogue)
	}
	eventually(t, "new catalogue served", func() bool { return get(o.Body.Catalogue.SHA256, "").status == http.StatusOK })
}

func TestBundleExpiryAndFormats(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1"})
	tree := writeTree(t, map[string]string{"chain.yaml": chainYAML, "catalogue/products.csv": "code,name\n1,x\n"})
	f.publish(t, tree, PublishOptions{})
	o := f.open(t, "P1", served(t, f.st, "P1"), 0)
	if want := f.clk.Now().Add(DefaultValidity); !o.Body.NotAfter.Equal(want) {
		t.Errorf("not_after %s, want %s", o.Body.NotAfter, want)
	}
	if err := o.CheckExpiry(f.clk.Now().Add(DefaultValidity - time.Second)); err != nil {
		t.Errorf("before not_after: %v", err)
	}
	f.publish(t, tree, PublishOptions{Validity: time.Hour})
	o = f.open(t, "P1", served(t, f.st, "P1"), 1)
	if !o.Body.NotAfter.Equal(f.clk.Now().Add(time.Hour)) {
		t.Errorf("not_after %s with --valid-for 1h", o.Body.NotAfter)
	}
	// v1 for old agents: the catalogue inline, no expiry.
	f.publish(t, tree, PublishOptions{BundleFormat: "v1"})
	data := served(t, f.st, "P1")
	if !strings.Contains(string(data), bundle.FormatV1) {
		t.Fatalf("not v1: %.80s", data)
	}
	o = f.open(t, "P1", data, 2)
	if o.Body.Products != "code,name\n1,x\n" || o.Body.Catalogue != nil || !o.Body.NotAfter.IsZero() {
		t.Errorf("v1 body %+v", o.Body)
	}
	if _, err := f.st.Publish(t.Context(), tree, PublishOptions{Key: f.hq, BundleFormat: "v9"}); err == nil {
		t.Error("bundle format v9 accepted")
	}
}
