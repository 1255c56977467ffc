-- Profiles (issue 21; SQLite's 0212): an agent token may be pinned to one profile; NULL for none.
ALTER TABLE agent_tokens ADD COLUMN profile_pin TEXT;
