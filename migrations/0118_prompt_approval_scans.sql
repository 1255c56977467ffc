-- Issue 18, numbered past 0020 (which creates prompt_approvals) so it runs after it.
-- Prompt approvals share the shape of tool approvals (one reader, one writer), so they get
-- the scan column too; the scanner only fills it for tools.
ALTER TABLE prompt_approvals ADD COLUMN scan TEXT;
