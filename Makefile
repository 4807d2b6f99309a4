# pda-agent — the two set-up commands are `make demo` and `make test`.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
TOOLS    := $(CURDIR)/.tools/bin
STATICCHECK_VERSION := v0.8.2

.PHONY: demo test lint unit faults-short fuzz-short cross bench faults build tools clean dist dist-check repro-quick systemd-tools cross-cc

## demo: play the scripted store day against the local sandbox
demo:
	$(GO) run ./cmd/pda-agent demo

## test: everything CI runs (lint, race tests, short fuzz, cross builds,
## a quick reproducibility check)
test: lint systemd-tools unit faults-short fuzz-short cross repro-quick

tools: $(TOOLS)/staticcheck
	@scripts/install-chromium.sh || echo "the browser test will skip itself"
	@scripts/install-postgres.sh || echo "the PostgreSQL tests will skip themselves (and fail under CI=true)"

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: tools
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

unit: tools
	$(GO) test -race -count=1 -timeout 20m -skip '^TestFaults$$' ./...

## faults-short: the fault suite's short form, with its figures
faults-short:
	$(GO) test -race -count=1 -v -timeout 20m -run '^TestFaults$$' ./cmd/pda-agent

## fuzz-short: every fuzz target for a few seconds (longer: FUZZTIME=5m make fuzz-short)
FUZZTIME ?= 4s
fuzz-short:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## cross: the builds the field needs still compile (no cgo, Windows, ARM)
cross:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/pda-agent
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/pda-agent
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -o /dev/null ./cmd/pda-agent
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/pda-agent

## bench: performance figures, each beside a baseline measured in the same run
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./queue/
	$(GO) test -run '^$$' -bench . -benchtime 2s -cpu 1 ./device/camera/
	GO=$(GO) scripts/camera-bench/run.sh
	$(GO) test -run '^$$' -bench Backlog -benchtime 1x ./upload/msfx/
	$(GO) test -run '^$$' -bench . -benchtime 2s ./upload/msfx/sandbox/
	$(GO) test -run '^$$' -bench FleetPoll -benchtime 50000x -timeout 30m ./fleet/hq/

## faults: the long fault suite (PDA_CRASH_CYCLES SIGKILL cycles, then back-end
## faults, disk full, corrupt queue, bad input); `make test` runs its short form
PDA_CRASH_CYCLES ?= 200
faults:
	PDA_FAULTS=long PDA_CRASH_CYCLES=$(PDA_CRASH_CYCLES) $(GO) test -count=1 -v -timeout 60m -run '^TestFaults$$' ./cmd/pda-agent

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/pda-agent ./cmd/pda-agent

clean:
	rm -rf bin .tools

## dist: release binaries and archives for linux/amd64, arm64, armv7 and
## windows/amd64 (+ pda-hq) in dist/ with SHA256SUMS, reproducibly
dist: cross-cc
	VERSION=$(VERSION) GO=$(GO) scripts/dist.sh dist

## cross-cc: C cross compilers for the HID source in dist (installed when
## root on Debian; otherwise dist builds those targets without HID)
cross-cc:
	@scripts/install-cross-cc.sh || true

## dist-check: build every target twice (the second from an empty build
## cache, in another directory), compare every SHA-256, and play the demo
## with the ARM binaries under qemu-user (minutes)
dist-check:
	@scripts/install-cross-cc.sh qemu || true
	VERSION=$(VERSION) scripts/dist-check.sh

## repro-quick: the cheap form of dist-check (linux/amd64, shared cache)
repro-quick:
	VERSION=$(VERSION) scripts/dist-check.sh quick

## systemd-tools: systemd-analyze and strace for the packaging tests
## (installed when root on Debian; otherwise those tests skip and say so)
systemd-tools:
	@scripts/install-systemd-analyze.sh || echo "some packaging checks will skip themselves"
