-- Who the token belongs to, as the server said at `xf login` (SessionService.GetCaller): xf hides and refuses
-- the commands this role may not call, before anything is queued. One row, written with the settings.
CREATE TABLE account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    principal_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The role's name in the role table (`leader`, `township_clerk`, …).
    role TEXT NOT NULL,
    org_code TEXT NOT NULL,
    org_name TEXT NOT NULL,
    -- The full gRPC method names the role may call, one per line.
    methods TEXT NOT NULL,
    checked_at TEXT NOT NULL
);
