-- Database roles for xinfang on a PostgreSQL that you run (DATABASE_URL). Run once, as a superuser, with
--   psql -v owner_password=… -v app_password=… -f deploy/postgres-roles.sql
-- (The private cluster that xinfang starts without DATABASE_URL does all of this by itself.)
--
-- xinfang_owner owns the database and every table and runs the migrations:
--   xinfang-server migrate --migrate-database-url postgres://xinfang_owner:…@db/xinfang \
--                          --database-url postgres://xinfang_app:…@db/xinfang
-- which also grants xinfang_app what the service needs (xinfang_grant_service_role, defined by the
-- migrations: DML on the tables, only INSERT and SELECT on audit_log and audit_seal). Run it after every
-- upgrade, before the new version serves; the service itself then runs with DATABASE_URL as xinfang_app only.
-- xinfang_app owns nothing, so it can neither change nor remove audit rows, nor disable their triggers.

CREATE ROLE xinfang_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE xinfang_app LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE DATABASE xinfang OWNER xinfang_owner ENCODING 'UTF8' TEMPLATE template0;

\connect xinfang
-- PostgreSQL 15 and later: the public schema belongs to the database owner and nobody else may create in it.
-- Before 15, everyone may create there; take that away so the service role cannot add objects of its own.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO xinfang_owner;
REVOKE ALL ON DATABASE xinfang FROM PUBLIC;
GRANT CONNECT ON DATABASE xinfang TO xinfang_owner, xinfang_app;

-- A read replica (--read-database-url) is a physical standby: it has these roles and grants through
-- replication; point the URL at it with xinfang_app.
--
-- Without xinfang-server at hand (another migration tool), the grants after each migration are, as
-- xinfang_owner:
--   SELECT xinfang_grant_service_role('xinfang_app');
