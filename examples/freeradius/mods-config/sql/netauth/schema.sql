-- netauth's sessions as the gateways report them in accounting (one row per
-- accounting session), read back by the netauth_roaming policy. The netauth_sql module
-- creates the file from this schema when it does not exist yet.
CREATE TABLE IF NOT EXISTS netauth_sessions (
	nasidentifier    TEXT    NOT NULL,
	acctsessionid    TEXT    NOT NULL,
	nasipaddress     TEXT    NOT NULL DEFAULT '',
	username         TEXT    NOT NULL,
	-- The device's MAC as netauth writes it: 02-00-5E-10-00-01.
	callingstationid TEXT    NOT NULL,
	-- The first Class of the session (0x... hex), echoed back to the next gateway.
	class            TEXT    NOT NULL DEFAULT '',
	-- Unix seconds: the Start's Event-Timestamp, the latest request's, the Stop's.
	started          INTEGER NOT NULL,
	updated          INTEGER NOT NULL,
	stopped          INTEGER,
	terminatecause   TEXT,
	-- The session's limits counted from the Start (netauth sends them in every
	-- accounting request): seconds from the Start to the session's end, and the bytes
	-- of each allowance that were left at the Start (NULL: no such allowance).
	sessiontimeout   INTEGER,
	quotain          INTEGER,
	quotaout         INTEGER,
	quotatotal       INTEGER,
	-- Counted since the Start, as of the latest Interim-Update or the Stop.
	octetsin         INTEGER NOT NULL DEFAULT 0,
	octetsout        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (nasidentifier, acctsessionid)
);
CREATE INDEX IF NOT EXISTS netauth_sessions_open
	ON netauth_sessions (callingstationid, stopped, started);
