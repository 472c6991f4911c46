-- The field client's local store: one SQLite file per profile (account).

-- The account this file belongs to: one row.
CREATE TABLE settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    server TEXT NOT NULL,
    token TEXT NOT NULL,
    ca_path TEXT
);

-- Operations captured offline, in creation order (`seq`). `payload` is an encoded xinfang.v1.Operation whose
-- op_id is the row's. Rows are never deleted: applied and duplicate ones keep what the server answered,
-- rejected ones keep its reason until the user re-queues an edited copy (`replaced`, with `replaced_by`) or
-- discards them (`discarded`).
CREATE TABLE outbox (
    op_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    -- A line for people (what and who), and the matter a case step acts on.
    subject TEXT NOT NULL DEFAULT '',
    target TEXT NOT NULL DEFAULT '',
    payload BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sent', 'applied', 'duplicate', 'rejected', 'discarded', 'replaced')),
    -- REJECTED (or deferred): the gRPC status code, ErrorInfo reason, message and bad fields (JSON array).
    code INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    fields TEXT NOT NULL DEFAULT '[]',
    -- APPLIED / DUPLICATE: the id and number of the record the server answered with.
    result_id TEXT NOT NULL DEFAULT '',
    result_number TEXT NOT NULL DEFAULT '',
    replaced_by TEXT REFERENCES outbox (op_id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_by_state ON outbox (state, seq);

-- Local copies of the records in the account's scope, as the server last sent them (encoded protos).
CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    -- The matter's version (its etag): an older answer never overwrites a newer copy.
    version INTEGER NOT NULL DEFAULT 0,
    -- An encoded xinfang.v1.ListCaseEventsResponse holding the history, oldest first.
    history BLOB,
    updated_at TEXT NOT NULL
);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE letters (
    id TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE trips (
    id TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

-- Where the last pull stopped: the server's opaque cursor, stored with the page it ends.
CREATE TABLE sync_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cursor TEXT NOT NULL DEFAULT '',
    pulled_at TEXT,
    pushed_at TEXT
);
INSERT INTO sync_state (id) VALUES (1);
