-- Return trips recorded while under way (`xf trip new --under-way`). The server records a trip once, complete,
-- so a trip under way stays here, outside the outbox, until `xf trip close` queues the whole trip in the same
-- transaction that marks the draft closed (`op_id`). Rows are never deleted.
CREATE TABLE trip_drafts (
    id TEXT PRIMARY KEY,
    -- An encoded xinfang.v1.ReturnTrip with outcome UNDER_WAY.
    payload BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'discarded')),
    op_id TEXT REFERENCES outbox (op_id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((state = 'closed') = (op_id IS NOT NULL))
);
CREATE INDEX trip_drafts_by_state ON trip_drafts (state, created_at);
