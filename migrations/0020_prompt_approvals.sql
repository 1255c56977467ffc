-- Approvals of upstream prompts (issue 20): the same record as a tool approval, in its own
-- table so prompt and tool names never collide. `tool` holds the prompt's name.
CREATE TABLE prompt_approvals (
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
