-- The server's dictionaries (DictionaryService.GetDictionaries: categories, claim types, org units, enum
-- labels), as the last `xf sync` or `xf login` fetched them: capture checks codes against them offline and
-- offers them as pick lists. One row, replaced whole.
CREATE TABLE dictionaries (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    etag TEXT NOT NULL,
    -- An encoded xinfang.v1.Dictionaries.
    payload BLOB NOT NULL,
    fetched_at TEXT NOT NULL
);
