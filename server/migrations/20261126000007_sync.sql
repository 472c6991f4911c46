-- The change feed that offline clients pull: one row per change of a matter, visit, letter or trip, written in
-- the same transaction as the change. `xid` is the writing transaction: a reader only takes rows of
-- transactions older than every transaction still running, so a row committed late can never be skipped.
CREATE TABLE feed (
    id          bigserial PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind        text NOT NULL CHECK (kind IN ('case', 'visit', 'letter', 'trip')),
    entity_id   uuid NOT NULL,
    -- The unit whose scope the record is in after the change (a matter's responsible unit, a visit's or
    -- letter's problem place, a trip's responsible unit), and before it for matters.
    org_code    text,
    previous_org_code text,
    -- Who registered or recorded it (visits, letters, trips).
    owner       uuid,
    reason      text NOT NULL DEFAULT ''
);
CREATE INDEX feed_order_idx ON feed (xid, id);
