// Package hq is the chain headquarters' side of fleet configuration: it
// enrolls devices with their SM2 public keys, renders a config tree into one
// signed bundle per device (package bundle), stages publishes as rollouts in
// waves with an abort threshold, and serves the bundles to the agents, which
// poll for them and report back (package protocol).
//
// # Protocol
//
//	GET /v1/devices/{device}/bundle
//	  200  the bundle (application/json), ETag "<bundle hash>",
//	       Cache-Control: no-cache
//	  304  If-None-Match names the current hash (a list and W/ accepted)
//	  404  {"error":"no_bundle"}: nothing released to the device, yet or
//	       in the current wave, and no earlier bundle
//	  404  {"error":"unknown_device"}: not enrolled
//	POST /v1/devices/{device}/report
//	  {"state":"APPLYING"|"APPLIED"|"FAILED","version":n,"hash":"…",
//	   "error":"…","config_hash":"…"}  (unknown members are ignored)
//	  204  recorded: committed and fsynced
//	  400  {"error":"bad_request"}; 413 {"error":"too_large"}
//	both
//	  401  {"error":"auth_missing"|"auth_device"|"auth_time"|"auth_signature",
//	       "message":"…"}: missing or malformed headers, X-PDA-Device not
//	       the path's device, X-PDA-Time beyond ±5 min, bad signature
//	  503  {"error":"busy"|"unavailable"} with Retry-After: <seconds>, when
//	       more than ServeOptions.MaxInFlight requests are in flight or a
//	       report could not be committed within ServeOptions.ReportWait
//
// Every error body is {"error": code, "message": text}. The headers and the
// string to sign are in package protocol. An agent should send in
// If-None-Match the hash of the last bundle it fetched, applied or not, so
// a bundle that failed is not downloaded again on every poll.
//
// Replays: a captured request can be replayed while its X-PDA-Time is
// within the window (±5 min). A replayed GET returns the bundle, which the
// attacker could fetch anyway and which is signed and secret-encrypted. A
// replayed report records the state the device already reported; reports
// are ordered by their signed time, so replaying an older report cannot
// undo a newer one, and a replayed APPLYING never hides the APPLIED or
// FAILED that followed it. Replays only refresh last_seen. Use TLS (serve
// --tls-cert, or a proxy that does not rewrite paths) to keep the config
// text private in transit.
//
// unknown_device answers before the signature is checked, so device ids
// can be probed; they are not secret (they are printed on bills).
//
// # Reports and durability
//
// Report handlers queue their report and wait; one writer goroutine takes
// everything queued into one transaction (group commit: with bbolt one
// fsync pair however many devices reported), then answers them all. A 204
// therefore means the report is committed. Last-seen times are kept in memory and
// written on each writer cycle (every ServeOptions.Tick, default 1 s), so a
// crash loses at most that much last-seen precision, never a report.
//
// # Rollouts
//
// A publish stages a new bundle for every enrolled device and creates a
// rollout: wave 1 is the chosen stores (--stores or --percent), wave 2 the
// others; without a choice there is one wave. Wave 1 is released at once.
// The states are
//
//	running ──(wave ended, failed ratio ≤ threshold, more waves)──▶ running, next wave released
//	running ──(last wave ended)──▶ completed
//	running ──(wave ended, FAILED/(APPLIED+FAILED) > threshold)──▶ halted
//	running ──(wave timed out with no report at all)──▶ halted
//	running ──(a newer publish)──▶ halted ("superseded")
//
// A wave ends when every device of it has reported APPLIED or FAILED for
// the rollout's version, or when its timeout passes. Serve evaluates this
// with every report batch and on every tick. Devices of a wave not
// released keep being served their previous bundle (or no_bundle); their
// new bundle stays staged until a newer publish replaces it.
//
// # Storage
//
// The state sits behind the Backend interface (store.go), with two
// implementations that pass the same conformance suite (package
// storetest):
//
// bbolt (Open; the default, for a small chain: one process): one file,
// fsync on, opened only for each operation so that the CLI commands work
// while serve runs. One transaction per writer cycle carries the report
// batch, the last-seen times and the rollout step.
//
// PostgreSQL (package pgstore; `--db postgres://…`, schema by `pda-hq
// migrate`), for a big chain: several `pda-hq serve` replicas behind any
// load balancer on one database. Each replica's writer commits its report
// batch and last-seen times (one bulk upsert) in one transaction and only
// then answers 204; the rollout step runs in its own transaction holding
// the meta row lock and recounts the wave under it, so a wave is released
// (or the rollout halted) once whichever replica commits the report that
// ends it, and a replica killed between the two leaves the step to the
// next tick of any replica. Every replica re-reads what it serves within a
// tick of any change (a generation counter bumped by publish, enroll and
// wave releases).
//
// Serve answers GETs from an in-memory snapshot of every device's key and
// released bundle, so its memory is about the sum of the released bundles.
package hq
