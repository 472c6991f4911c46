-- When the server last confirmed the cached dictionaries (same etag), apart from when they were last
-- written (`fetched_at`): an unchanged answer no longer rewrites the copy, and `xf sync` shows both, so a
-- field laptop knows how old its pick lists are. NULL for a row written before this column: read as
-- `fetched_at`.
ALTER TABLE dictionaries ADD COLUMN checked_at TEXT;
