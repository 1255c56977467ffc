-- OAuth state of upstream servers: tokens and the registered client, as the OAuth adapter
-- keeps them (JSON), so logins survive restarts.
CREATE TABLE oauth_credentials (
    server TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
