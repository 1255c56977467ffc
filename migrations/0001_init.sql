-- The first schema of mcpproxy's database.

-- What the proxy knows about each upstream at run time, kept across restarts.
CREATE TABLE server_runtime (
    name         TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    last_error   TEXT,
    tool_count   INTEGER NOT NULL DEFAULT 0,
    connected_at INTEGER,
    updated_at   INTEGER NOT NULL
);

-- The last tool list of each upstream, so a restart never starts from an empty index.
CREATE TABLE server_tools (
    server   TEXT NOT NULL,
    name     TEXT NOT NULL,
    position INTEGER NOT NULL,
    tool     TEXT NOT NULL,
    PRIMARY KEY (server, name)
);

-- Approvals of tools by fingerprint (tool poisoning and rug-pull protection).
CREATE TABLE tool_approvals (
    server               TEXT NOT NULL,
    tool                 TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('approved', 'pending', 'changed')),
    current_fingerprint  TEXT NOT NULL,
    current_description  TEXT NOT NULL,
    current_schema       TEXT NOT NULL,
    approved_fingerprint TEXT,
    approved_description TEXT,
    approved_schema      TEXT,
    PRIMARY KEY (server, tool)
);

-- The activity log. Ids are ULIDs, so ordering by id orders by time.
CREATE TABLE activity (
    id                 TEXT PRIMARY KEY,
    type               TEXT NOT NULL,
    source             TEXT NOT NULL,
    server_name        TEXT,
    tool_name          TEXT,
    arguments          TEXT,
    response           TEXT,
    response_truncated INTEGER NOT NULL DEFAULT 0,
    status             TEXT NOT NULL,
    error_message      TEXT,
    duration_ms        INTEGER,
    timestamp          INTEGER NOT NULL,
    session_id         TEXT,
    request_id         TEXT,
    metadata           TEXT
);
CREATE INDEX activity_by_time ON activity (timestamp);
CREATE INDEX activity_by_server ON activity (server_name, timestamp);
CREATE INDEX activity_by_type ON activity (type, timestamp);
CREATE INDEX activity_by_request ON activity (request_id);
CREATE INDEX activity_by_session ON activity (session_id);

-- Full tool responses kept for read_cache after truncation.
CREATE TABLE response_cache (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX response_cache_by_expiry ON response_cache (expires_at);
