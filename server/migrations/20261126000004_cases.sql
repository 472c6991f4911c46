-- The lifecycle of a matter: assignment, acceptance, handling, reply, evaluation, review, supervision and the
-- backlog track. Enum columns hold the numbers of the xinfang.v1 enums (0 = none); the state is text because
-- every report filters on it.

ALTER TABLE cases
    ADD COLUMN responsible_org_code   text REFERENCES org_units (code),
    ADD COLUMN assignment_mode        smallint NOT NULL DEFAULT 0,
    ADD COLUMN handling_deadline      date,
    ADD COLUMN first_assigned_at      timestamptz,
    ADD COLUMN assigned_at            timestamptz,
    ADD COLUMN accepted_at            timestamptz,
    ADD COLUMN declined_at            timestamptz,
    ADD COLUMN decline_ground         smallint NOT NULL DEFAULT 0,
    ADD COLUMN extension_days         int NOT NULL DEFAULT 0 CHECK (extension_days BETWEEN 0 AND 365),
    ADD COLUMN extension_approved_by  text,
    ADD COLUMN extension_reason       text,
    ADD COLUMN replied_at             timestamptz,
    ADD COLUMN reply_opinion          text,
    ADD COLUMN office_rating          smallint NOT NULL DEFAULT 0,
    ADD COLUMN unit_rating            smallint NOT NULL DEFAULT 0,
    ADD COLUMN evaluated_at           timestamptz,
    ADD COLUMN review_kind            smallint NOT NULL DEFAULT 0,
    ADD COLUMN review_requested_at    timestamptz,
    ADD COLUMN review_decided_at      timestamptz,
    ADD COLUMN review_outcome         smallint NOT NULL DEFAULT 0,
    ADD COLUMN supervised             boolean NOT NULL DEFAULT false,
    ADD COLUMN supervision_level      smallint NOT NULL DEFAULT 0,
    ADD COLUMN supervision_method     smallint NOT NULL DEFAULT 0,
    ADD COLUMN backlog_state          smallint NOT NULL DEFAULT 0,
    ADD COLUMN backlog_leader         text,
    ADD COLUMN special_difficult      boolean NOT NULL DEFAULT false,
    ADD COLUMN backlog_resolution     smallint NOT NULL DEFAULT 0,
    ADD COLUMN updated_at             timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT cases_state_check CHECK (state IN ('registered', 'assigned', 'accepted', 'declined', 'returned',
        'replied', 'evaluated', 'review_requested', 'reviewed', 'final'));

CREATE INDEX cases_responsible_idx ON cases (responsible_org_code, registered_at DESC, id DESC);
CREATE INDEX cases_time_idx ON cases (registered_at DESC, id DESC);
CREATE INDEX cases_backlog_idx ON cases (backlog_state) WHERE backlog_state <> 0;

-- Every change of a matter, written in the same transaction as the change: the history, the audit trail and
-- the source of the sync feed.
CREATE TABLE case_events (
    id           bigserial PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES cases (id),
    action       text NOT NULL,
    actor        uuid NOT NULL REFERENCES principals (id),
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    reason       text NOT NULL DEFAULT '',
    before       jsonb,
    after        jsonb
);
CREATE INDEX case_events_case_idx ON case_events (case_id, id);

CREATE INDEX return_trip_cases_case_idx ON return_trip_cases (case_id);

-- The due date of the step the matter waits for now (assignment, acceptance, conclusion, review decision),
-- kept by every write so that "overdue" and "due within N days" are index range scans.
ALTER TABLE cases ADD COLUMN next_due date;
CREATE INDEX cases_next_due_idx ON cases (next_due) WHERE next_due IS NOT NULL;

-- When the responsible unit objected to its assignment (异议): it answers the assignment, and the office's new
-- period to reassign runs from it.
ALTER TABLE cases ADD COLUMN objected_at timestamptz;

-- What the indicators count matters by: the due dates of each step (kept by every write, computed with the
-- holiday calendar), and when a matter entered and left the backlog.
ALTER TABLE cases
    ADD COLUMN assign_due           date,
    ADD COLUMN accept_due           date,
    ADD COLUMN conclude_due         date,
    ADD COLUMN backlog_listed_at    timestamptz,
    ADD COLUMN backlog_resolved_at  timestamptz;
CREATE INDEX cases_assign_due_idx ON cases (assign_due);
CREATE INDEX cases_accept_due_idx ON cases (accept_due) WHERE accept_due IS NOT NULL;
CREATE INDEX cases_conclude_due_idx ON cases (conclude_due) WHERE conclude_due IS NOT NULL;
CREATE INDEX cases_replied_idx ON cases (replied_at) WHERE replied_at IS NOT NULL;
CREATE INDEX cases_accepted_idx ON cases (accepted_at) WHERE accepted_at IS NOT NULL;
CREATE INDEX case_events_action_time_idx ON case_events (action, occurred_at);

-- 交办 matters file a completion report (办结报告) with their reply.
ALTER TABLE cases ADD COLUMN completion_report text;
