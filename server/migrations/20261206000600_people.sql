-- People who sign in to the workbench with a name and a password (issue #18). A person is linked to one
-- principal of their own, created with them, which carries the role, the org unit and the display name:
-- everything keyed by principal (the role table, the read rule, idempotency keys, fair share, the audit
-- trail) applies to a person's session as it does to a token. Such a principal has no bearer token.
ALTER TABLE principals ALTER COLUMN token_hash DROP NOT NULL;

CREATE TABLE people (
    id               uuid PRIMARY KEY,
    -- What the person types to sign in; compared as typed after trimming, case-sensitive.
    user_name        text NOT NULL UNIQUE CHECK (length(user_name) BETWEEN 1 AND 64 AND user_name = btrim(user_name)),
    principal_id     uuid NOT NULL UNIQUE REFERENCES principals (id),
    -- Argon2id in the PHC string format (algorithm, parameters and salt travel with the hash).
    password_hash    text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    -- Failed sign-ins in a row; reset by a success. At the limit, locked_until is set.
    failed_attempts  integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until     timestamptz,
    disabled_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Sessions of the workbench. Only the SHA-256 of the token is kept (256 random bits: nothing to
-- brute-force, one index probe per request). A session ends when idle too long, at an absolute age, at sign-out,
-- when its person is disabled or their password changes; ended rows stay until pruned so that "expired" can
-- be told apart from "unknown".
CREATE TABLE sessions (
    token_hash    bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    person_id     uuid NOT NULL REFERENCES people (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    -- signed_out, disabled, password_changed
    end_reason    text
);
CREATE INDEX sessions_person_idx ON sessions (person_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_created_idx ON sessions (created_at);
