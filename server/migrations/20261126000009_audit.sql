-- The audit trail: every mutation (one row per applied request) and every unmasked read of personal data.
-- Rows are only ever appended; a sealer chains them with SHA-256 in commit-safe order (transaction id, then
-- row id), so that changing or removing a sealed row breaks the chain at that row (`xinfang-server audit
-- verify`). The trigger refuses updates and deletes; run the service as a role that does not own the table
-- (DATABASE_URL) to make the refusal independent of the service's own code.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at            timestamptz NOT NULL DEFAULT now(),
    principal_id  uuid NOT NULL,
    action        text NOT NULL,
    subject       text NOT NULL,
    detail        text NOT NULL DEFAULT '',
    -- Set once by the sealer.
    seq           bigint UNIQUE,
    prev_hash     bytea,
    hash          bytea
);
CREATE INDEX audit_log_unsealed_idx ON audit_log (xid, id) WHERE seq IS NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_log is append-only';
    END IF;
    -- The one update allowed: sealing a row that is not sealed yet, leaving its content as it is.
    IF OLD.seq IS NOT NULL
       OR NEW.id <> OLD.id OR NEW.xid <> OLD.xid OR NEW.at <> OLD.at
       OR NEW.principal_id <> OLD.principal_id OR NEW.action <> OLD.action
       OR NEW.subject <> OLD.subject OR NEW.detail <> OLD.detail THEN
        RAISE EXCEPTION 'audit_log is append-only';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
