-- pda-hq's state in PostgreSQL: the same records as the bbolt file.

-- meta is one row: counters and settings. Every publish and every rollout
-- step locks it (SELECT … FOR UPDATE), which serialises them across
-- replicas.
CREATE TABLE meta (
	one          boolean PRIMARY KEY DEFAULT true CHECK (one),
	version      bigint  NOT NULL DEFAULT 0, -- last bundle version handed out
	last_rollout bigint  NOT NULL DEFAULT 0,
	active       bigint  NOT NULL DEFAULT 0, -- running rollout, 0 if none
	gen          bigint  NOT NULL DEFAULT 0, -- bumped by every change replicas must reload
	settings     jsonb   NOT NULL
);
INSERT INTO meta (settings) VALUES ('{"poll_interval": 60000000000}');

-- devices: the enrolled device (hq.Device JSON) and its staged and
-- released bundle refs (hq.BundleRef JSON).
CREATE TABLE devices (
	id       text COLLATE "C" PRIMARY KEY, -- C: the byte order bbolt lists in
	record   jsonb NOT NULL,
	staged   jsonb,
	released jsonb
);

CREATE TABLE bundles (
	device  text COLLATE "C" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	version bigint NOT NULL,
	data    bytea  NOT NULL,
	PRIMARY KEY (device, version)
);

-- reports: the last accepted report (hq.Report JSON, signed_ns its
-- X-PDA-Time for ordering) and the outcome rollouts count.
CREATE TABLE reports (
	device      text COLLATE "C" PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
	report      jsonb,
	signed_ns   bigint,
	out_version bigint,
	out_state   text -- APPLYING, APPLIED or FAILED
);

-- seen: last authenticated request, unix nanoseconds. Its own table so
-- the every-second bulk upsert does not rewrite device rows.
CREATE TABLE seen (
	device text COLLATE "C" PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
	at_ns  bigint NOT NULL
);

CREATE TABLE rollouts (
	id   bigint PRIMARY KEY,
	body jsonb  NOT NULL -- hq.Rollout JSON
);

CREATE TABLE wave_devices (
	rollout bigint  NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	wave    integer NOT NULL,
	device  text COLLATE "C" NOT NULL,
	PRIMARY KEY (rollout, wave, device)
);
