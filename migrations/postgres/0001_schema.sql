-- mcpproxy's schema on PostgreSQL: the same tables and columns as the SQLite migrations in
-- the folder above (0001 … 0118), in one step. Times are epoch milliseconds (BIGINT) and
-- JSON is kept as text, as in SQLite, so both backends read a row the same way. Keys and
-- names sort as bytes (COLLATE "C"), as SQLite sorts them, whatever the database's locale. A
-- change to the schema is a new migration in both folders. Column names that are words of
-- PostgreSQL's own ("position", "timestamp", "current_schema") are quoted.

-- What the proxy knows about each upstream at run time.
CREATE TABLE server_runtime (
    name         TEXT COLLATE "C" PRIMARY KEY,
    state        TEXT NOT NULL,
    last_error   TEXT,
    tool_count   BIGINT NOT NULL DEFAULT 0,
    connected_at BIGINT,
    updated_at   BIGINT NOT NULL
);

-- The last tool list of each upstream, in the order the server listed it.
CREATE TABLE server_tools (
    server     TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    "position" BIGINT NOT NULL,
    tool       TEXT NOT NULL,
    PRIMARY KEY (server, name)
);

-- Approvals of tools by fingerprint, with the scanner's report and the person's switch.
CREATE TABLE tool_approvals (
    server               TEXT COLLATE "C" NOT NULL,
    tool                 TEXT COLLATE "C" NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('approved', 'pending', 'changed')),
    current_fingerprint  TEXT NOT NULL,
    current_description  TEXT NOT NULL,
    "current_schema"     TEXT NOT NULL,
    approved_fingerprint TEXT,
    approved_description TEXT,
    approved_schema      TEXT,
    scan                 TEXT,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (server, tool)
);

-- Approvals of upstream prompts: the same record, `tool` holding the prompt's name.
CREATE TABLE prompt_approvals (
    server               TEXT COLLATE "C" NOT NULL,
    tool                 TEXT COLLATE "C" NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('approved', 'pending', 'changed')),
    current_fingerprint  TEXT NOT NULL,
    current_description  TEXT NOT NULL,
    "current_schema"     TEXT NOT NULL,
    approved_fingerprint TEXT,
    approved_description TEXT,
    approved_schema      TEXT,
    scan                 TEXT,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (server, tool)
);

-- The activity log. Ids are ULIDs, so ordering by id orders by time (across replicas too).
CREATE TABLE activity (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    type               TEXT NOT NULL,
    source             TEXT NOT NULL,
    server_name        TEXT,
    tool_name          TEXT,
    arguments          TEXT,
    response           TEXT,
    response_truncated BOOLEAN NOT NULL DEFAULT FALSE,
    status             TEXT NOT NULL,
    error_message      TEXT,
    duration_ms        BIGINT,
    "timestamp"        BIGINT NOT NULL,
    session_id         TEXT,
    request_id         TEXT,
    metadata           TEXT
);
CREATE INDEX activity_by_time ON activity ("timestamp");
CREATE INDEX activity_by_server ON activity (server_name, "timestamp");
CREATE INDEX activity_by_type ON activity (type, "timestamp");
CREATE INDEX activity_by_request ON activity (request_id);
CREATE INDEX activity_by_session ON activity (session_id);

-- Full tool responses kept for read_cache after truncation.
CREATE TABLE response_cache (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX response_cache_by_expiry ON response_cache (expires_at);

-- OAuth state of upstream servers (tokens and the registered client), as JSON.
CREATE TABLE oauth_credentials (
    server     TEXT PRIMARY KEY NOT NULL,
    data       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Agent tokens: only the HMAC-SHA256 of each token is kept.
CREATE TABLE agent_tokens (
    name         TEXT COLLATE "C" PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    servers      TEXT NOT NULL,
    tier         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE,
    last_used_at BIGINT
);
