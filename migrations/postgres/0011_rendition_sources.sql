-- perma schema v11: renditions by source file, so that the renditions stored per source
-- can be counted (PERMA_RENDITIONS_PER_SOURCE, §11) with an index read. Keep in step with
-- the other backend's 0011_rendition_sources.sql.
CREATE INDEX renditions_by_source ON renditions (source_sha256);
