-- Agent tokens (issue 18): only the HMAC-SHA256 of each token is kept. `servers` is a JSON
-- array of names, or ["*"]; `tier` is read, write or destructive. Times are epoch ms.
CREATE TABLE agent_tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    servers TEXT NOT NULL,
    tier TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    last_used_at INTEGER
);
