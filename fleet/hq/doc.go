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
//	       Cache-Control: no-cache, X-PDA-Poll-Token: <token>
//	  304  If-None-Match names the current hash (a list and W/ accepted)
//	  404  {"error":"no_bundle"}: nothing released to the device, yet or
//	       in the current wave, and no earlier bundle
//	  404  {"error":"unknown_device"}: not enrolled
//	POST /v1/devices/{device}/report
//	  {"state":"APPLYING"|"APPLIED"|"FAILED","version":n,"hash":"…",
//	   "error":"…","config_hash":"…"}  (unknown members are ignored)
//	  204  recorded: committed and fsynced
//	  400  {"error":"bad_request"}; 413 {"error":"too_large"}
//	GET /v1/catalogues/{sha256}   (no authentication)
//	  200  the signed catalogue object, ETag "<sha256>",
//	       Cache-Control: public, max-age=31536000, immutable
//	  304  If-None-Match names it; 404 no such object
//	device paths
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
// # Polls at static-file speed: the poll token
//
// Nearly every poll is answered 304, and checking its SM2 signature (about
// a millisecond of CPU) was what limited HQ to a few thousand polls a
// second. So every answer to an SM2-verified GET of a bundle carries
// X-PDA-Poll-Token, "<day>.<Base64url HMAC-SHA256(poll key, device id,
// enrolled public key, day)>", and the agent sends the last token it got
// with each poll (it still signs every request). A poll whose token is
// valid (issued today or yesterday, by a server with the same poll key,
// for this device and its current key) and whose If-None-Match names the
// device's current bundle is answered 304 from memory: one HMAC, no SM2, no
// store access, no log line, and last-seen is refreshed. Anything else
// (no token, an old or foreign one, another ETag) takes the full path
// above, whose answer it would have got anyway, and gets a fresh token; so
// each device pays about one SM2 check a day. The poll key is
// ServeOptions.PollKey (serve --poll-key-file; default random per
// process). Replicas behind a load balancer must share it: a token is then
// valid on every replica, so a device whose polls alternate between them
// stays on the token path (the replica tests check that a token from
// replica A gets a 304 on replica B); with separate keys every switch would
// cost an SM2 check and a new token.
//
// What an attacker who captured a token (from a device's memory, or from
// the wire without TLS) can do, for at most two days or until the device
// is re-enrolled or the poll key changes: send polls as that device that
// get 304 and refresh its last-seen, hiding that the real device went
// silent. What he cannot do: get any bundle (a mismatching ETag needs the
// signature), learn anything (he must already know the current ETag, and
// the 304 says only that it is current), send a report (reports are always
// SM2-signed), or mint a token for another device or day (HMAC with the
// server's key). Without a token nothing changes from before. The
// alternative of answering a matching If-None-Match with 304 and no check
// at all would leak nothing either (the ETag is the hash of a signed,
// secret-encrypted bundle), but then anyone knowing a device id and its
// bundle's hash (every static mirror shows it) could keep that device
// looking alive; the token keeps last-seen authenticated for the price of
// one HMAC.
//
// The device → current bundle map lives in the Server's snapshot, which
// the writer reloads from the store within a Tick (default 1 s) of any
// publish, rollout step or enrolment made by any process (a generation
// counter read each tick, not a read per poll; with PostgreSQL every
// replica does so). Until then a replica may
// still answer 304 for the previous bundle: the device gets the new one at
// its next poll, exactly as if it had polled a moment earlier.
//
// # Catalogue
//
// Publish (bundle format v2, the default) puts products and partners into
// signed catalogue objects (package catalogue, Signed: the same envelope
// and HQ key as bundles), one per distinct content: the chain's, and one
// for each store with its own products file. An object's address is the
// SHA-256 of its bytes; each bundle names its object (address, version,
// scope, size) in its signed body, so the object may come from any server.
// An object whose content did not change is reused, with its address and
// version, so agents fetch it once per version; objects no stored bundle
// uses are deleted at the next publish. The agent keeps the object of its
// applied bundle on disk, starts from it without the network, and while it
// cannot fetch a new one keeps its config and catalogue in force and
// retries (the new bundle waits). Format v1 (publish --bundle-format v1)
// carries the catalogue inline and no expiry, for agents older than v2.
//
// # Expiry
//
// A v2 bundle carries not_after (publish time + PublishOptions.Validity,
// publish --valid-for, default 30 days). An agent refuses to apply a
// bundle past its not_after, from HQ or from a static mirror, reports it
// FAILED and shows it in `pda-agent status`; the config already applied
// stays in force even after its own not_after. So a mirror that stopped
// syncing cannot hand out an old config for ever: publish (again) more
// often than the validity.
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
// storetest): devices, settings, bundles, rollouts, reports, last-seen
// times and the signed catalogue objects (each with the content key it
// was sealed for, and each bundle with the address of the object it names).
// A publish stores its new catalogue objects in the same transaction as
// its bundles, and drops the objects no stored bundle names any more; an
// export (`pda-hq export --chain`) carries them and `pda-hq import` loads
// them, so a chain moves between the backends with its catalogues.
//
// bbolt (Open; the default, for a small chain: one process): one file,
// fsync on, opened only for each operation so that the CLI commands work
// while serve runs. One transaction per writer cycle carries the report
// batch, the last-seen times and the rollout step.
//
// PostgreSQL (package pgstore; `--db postgres://…`, schema by `pda-hq
// migrate` from numbered migrations embedded in the binary; 0002 added the
// catalogue objects, each bundle row naming its object by a foreign key),
// for a big chain: several `pda-hq serve` replicas behind any
// load balancer on one database, sharing one poll key (serve
// --poll-key-file) so a poll token issued by one replica is honoured by
// all of them. Each replica's writer commits its report batch and
// last-seen times (one bulk upsert) in one transaction and only then
// answers 204; the rollout step runs in its own transaction holding the
// meta row lock and recounts the wave under it, so a wave is released (or
// the rollout halted) once whichever replica commits the report that ends
// it, and a replica killed between the two leaves the step to the next
// tick of any replica.
//
// Serve answers GETs from an in-memory snapshot of every device's key and
// released bundle and of the catalogue objects (see the poll token above
// for when it is reloaded), so its memory is about the sum of the released
// bundles plus the catalogues; a reload reads only the bundles and objects
// it does not hold yet. Polls and catalogue fetches never touch the store.
package hq
