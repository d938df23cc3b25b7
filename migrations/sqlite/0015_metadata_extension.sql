-- perma schema v15: the stack setting `metadata_extension`, the extension whose metadata
-- the web UI's asset panel shows and edits (alt text, for example); '' when none is chosen.
-- Keep in step with the other backend's 0015_metadata_extension.sql.
ALTER TABLE stacks ADD COLUMN metadata_extension TEXT NOT NULL DEFAULT '';
