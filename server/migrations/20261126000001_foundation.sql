-- Foundation: the county's organisation, the principals that call the API, and the idempotency keys that
-- make every mutation safe to retry.

CREATE TABLE org_units (
    code         text PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{6,12}$'),
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    kind         text NOT NULL CHECK (kind IN ('county', 'petition_office', 'township', 'department')),
    parent_code  text REFERENCES org_units (code),
    -- Bumped on every change; the etag is derived from it.
    version      bigint NOT NULL DEFAULT 1,
    -- When the unit came into being in the world (occurred_at), and when we recorded it.
    created_at   timestamptz NOT NULL DEFAULT now(),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT org_units_root_is_county CHECK ((kind = 'county') = (parent_code IS NULL))
);
CREATE INDEX org_units_parent_idx ON org_units (parent_code, code);

-- A principal is one credential holder: a person at a desk, a field laptop, or an agency system.
CREATE TABLE principals (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    role         text NOT NULL CHECK (role IN ('admin', 'county_clerk', 'field_officer', 'township_clerk',
                                               'leader', 'agency', 'auditor')),
    org_code     text NOT NULL REFERENCES org_units (code),
    -- SHA-256 of the bearer token. Tokens carry 256 random bits, so a plain hash is enough: there is
    -- nothing to brute-force, and lookups stay one index probe.
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- (principal, request_id) -> the first response, written in the same transaction as the change it reports.
CREATE TABLE idempotency_keys (
    principal_id  uuid NOT NULL REFERENCES principals (id),
    request_id    uuid NOT NULL,
    method        text NOT NULL,
    -- SHA-256 of the encoded request: the same request_id with a different request is refused.
    request_hash  bytea NOT NULL,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, request_id)
);
