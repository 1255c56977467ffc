-- A person's per-tool switch (issue 21): a tool switched off is hidden and refused whatever
-- its approval, kept with its approval record across versions and restarts. Prompt approvals
-- share the record's shape (and its writer), so they carry the column too.
ALTER TABLE tool_approvals ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE prompt_approvals ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
