-- The special fund: budgets with their documents, fund requests and their immutable chain of steps.

CREATE TABLE fund_categories (
    code  text PRIMARY KEY CHECK (code ~ '^[a-z][a-z_]{1,40}$'),
    name  text NOT NULL
);

-- One budget per year and category. The three sums are kept by the same statements that change them, and the
-- constraint is what makes overspending impossible: concurrent approvals and payments queue on the row lock of
-- the UPDATE, and one that would take the budget below zero fails here, in the database, whatever the service
-- checked before.
CREATE TABLE budgets (
    id            uuid PRIMARY KEY,
    year          int NOT NULL CHECK (year BETWEEN 1990 AND 2200),
    category      text NOT NULL REFERENCES fund_categories (code),
    appropriated  numeric(14, 2) NOT NULL DEFAULT 0,
    committed     numeric(14, 2) NOT NULL DEFAULT 0 CHECK (committed >= 0),
    disbursed     numeric(14, 2) NOT NULL DEFAULT 0 CHECK (disbursed >= 0),
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (year, category),
    CONSTRAINT budgets_not_overspent CHECK (committed + disbursed <= appropriated)
);

CREATE TABLE budget_appropriations (
    id                     bigserial PRIMARY KEY,
    budget_id              uuid NOT NULL REFERENCES budgets (id),
    document               text NOT NULL,
    amount                 numeric(14, 2) NOT NULL CHECK (amount <> 0),
    counterpart_category   text REFERENCES fund_categories (code),
    occurred_at            timestamptz NOT NULL,
    recorded_by            uuid NOT NULL REFERENCES principals (id),
    recorded_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (budget_id, document)
);

CREATE TABLE fund_requests (
    id                 uuid PRIMARY KEY,
    number             text NOT NULL UNIQUE,
    state              text NOT NULL CHECK (state IN ('submitted', 'bureau_approved', 'bureau_rejected',
                                                      'approved', 'rejected', 'disbursed')),
    year               int NOT NULL,
    category           text NOT NULL REFERENCES fund_categories (code),
    budget_id          uuid NOT NULL REFERENCES budgets (id),
    purpose            smallint NOT NULL,
    unit_code          text NOT NULL REFERENCES org_units (code),
    description        text NOT NULL,
    amount             numeric(14, 2) NOT NULL CHECK (amount > 0),
    approved_amount    numeric(14, 2) CHECK (approved_amount > 0),
    payee              text NOT NULL,
    case_id            uuid REFERENCES cases (id),
    petitioner_id      uuid REFERENCES petitioners (id),
    trip_id            uuid REFERENCES return_trips (id),
    attachments        jsonb NOT NULL DEFAULT '[]',
    meeting_reference  text,
    meeting_date       date,
    decided_by         uuid REFERENCES principals (id),
    payment_method     smallint NOT NULL DEFAULT 0 CHECK (payment_method IN (0, 1, 2)),
    voucher_number     text,
    submitted_by       uuid NOT NULL REFERENCES principals (id),
    submitted_at       timestamptz NOT NULL,
    version            bigint NOT NULL DEFAULT 1
);
CREATE INDEX fund_requests_time_idx ON fund_requests (submitted_at DESC, id DESC);
CREATE INDEX fund_requests_unit_idx ON fund_requests (unit_code, submitted_at DESC, id DESC);
CREATE INDEX fund_requests_relief_idx ON fund_requests (petitioner_id, year) WHERE petitioner_id IS NOT NULL;

-- Append-only: the chain of a request as it happened.
CREATE TABLE fund_request_events (
    id               bigserial PRIMARY KEY,
    fund_request_id  uuid NOT NULL REFERENCES fund_requests (id),
    action           text NOT NULL,
    actor            uuid NOT NULL REFERENCES principals (id),
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    comment          text NOT NULL DEFAULT '',
    amount           numeric(14, 2)
);
CREATE INDEX fund_request_events_request_idx ON fund_request_events (fund_request_id, id);
