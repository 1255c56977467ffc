-- The tool-poisoning scanner's report on each tool's current version (JSON: verdict and
-- findings), kept with its approval (issue 18). Numbered by issue, like the other branches'.
ALTER TABLE tool_approvals ADD COLUMN scan TEXT;
