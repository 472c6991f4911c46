-- The audit trail becomes insert-only for the service's own database role, enforced by privileges rather than
-- by a trigger that the tables' owner could drop.
--
-- Seals move out of audit_log into audit_seal. Sealing used to UPDATE audit_log (seq, prev_hash, hash), which
-- would have needed a column-level UPDATE grant on audit_log plus a trigger deciding which updates are
-- "only sealing": the refusal would again rest on trigger code. With seals in a table of their own the service
-- role holds exactly INSERT and SELECT on both tables, a row is sealed at most once by the primary and unique
-- keys alone, and the triggers below are only a second line for the owner's own mistakes.
CREATE TABLE audit_seal (
    seq        bigint PRIMARY KEY,
    audit_id   bigint NOT NULL UNIQUE REFERENCES audit_log (id),
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO audit_seal (seq, audit_id, prev_hash, hash)
SELECT seq, id, prev_hash, hash FROM audit_log WHERE seq IS NOT NULL;

DROP TRIGGER audit_log_append_only ON audit_log;
DROP FUNCTION audit_log_append_only();
ALTER TABLE audit_log DROP COLUMN seq, DROP COLUMN prev_hash, DROP COLUMN hash;
-- The sealer walks the rows after the last sealed one in commit-safe order.
CREATE INDEX audit_log_order_idx ON audit_log (xid, id);

CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- The privileges of the service's login role: the DML it needs everywhere, only INSERT and SELECT on the audit
-- tables, only SELECT on the migration ledger (to see that the schema is current), no ownership and no DDL.
-- Whoever ran the migrations calls it after every run (`xinfang-server migrate` with --migrate-database-url,
-- and the private cluster's launcher at each start), so tables that later migrations add are covered. That is
-- also why this is not ALTER DEFAULT PRIVILEGES: those apply only to objects created by the role they name,
-- and would silently miss a table created by another admin. A later append-only table is added to the REVOKE.
CREATE FUNCTION xinfang_grant_service_role(service name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF service = current_user THEN
        RAISE EXCEPTION 'the service role % must not be the role that owns the tables', service;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', service);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', service);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', service);
    EXECUTE format(
        'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log, audit_seal FROM %I', service);
    EXECUTE format(
        'REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON _sqlx_migrations FROM %I', service);
END $$;
REVOKE ALL ON FUNCTION xinfang_grant_service_role(name) FROM PUBLIC;
