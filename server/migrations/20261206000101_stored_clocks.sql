-- One definition of "done on time" (docs/deadlines.md). The workflow (cases::model) decides at every step how
-- each clock of a matter stands and stores it with its due date: the office's assignment, and the current
-- assignment's acceptance and conclusion. The rollups and the indicators only count what is stored; before
-- this, the rule was written three times (Rust, the rollup SQL, the indicator SQL) and the three disagreed.
-- Outcomes: 0 open (not done: overdue or pending depending on the day asked), 1 on time, 2 late.
ALTER TABLE cases
    ADD COLUMN assign_outcome           smallint NOT NULL DEFAULT 0 CHECK (assign_outcome IN (0, 1, 2)),
    ADD COLUMN accept_outcome           smallint NOT NULL DEFAULT 0 CHECK (accept_outcome IN (0, 1, 2)),
    ADD COLUMN conclude_outcome         smallint NOT NULL DEFAULT 0 CHECK (conclude_outcome IN (0, 1, 2)),
    -- 异议: the current assignment's objection waits for the office's decision (xinfang.v1.ObjectionState).
    ADD COLUMN objection_state          smallint NOT NULL DEFAULT 0 CHECK (objection_state BETWEEN 0 AND 4),
    ADD COLUMN objection_decided_at     timestamptz,
    -- 延期告知: when the petitioner was told of the extension in writing.
    ADD COLUMN extension_notified_on    date,
    -- 督办: when it began, the unit's reply (due 30 days on), and when the office closed it.
    ADD COLUMN supervised_at            timestamptz,
    ADD COLUMN supervision_due          date,
    ADD COLUMN supervision_replied_at   timestamptz,
    ADD COLUMN supervision_reply        text,
    ADD COLUMN supervision_closed_at    timestamptz,
    -- 审核认定办结 of a 交办 matter's completion report.
    ADD COLUMN completion_confirmed_at  timestamptz;

-- Matters recorded before this version, under the rules they were recorded by:
-- * an objection sent the matter back at once: the office's agreement is implied, and the objecting unit's
--   clocks are void;
UPDATE cases SET objection_state = 2, objection_decided_at = objected_at, accept_due = NULL, conclude_due = NULL
WHERE state = 'returned';
-- * an objection to an earlier assignment belongs to that assignment, not to the current one;
UPDATE cases SET objected_at = NULL
WHERE state <> 'returned' AND objected_at IS NOT NULL AND assigned_at IS NOT NULL AND objected_at < assigned_at;
-- * a 交办 matter's reply was taken as its conclusion: its completion report counts as confirmed then;
UPDATE cases SET completion_confirmed_at = replied_at
WHERE assignment_mode = 2 AND replied_at IS NOT NULL AND completion_report IS NOT NULL;
-- * under the 2022 regulation 建议意见 and 检举控告 have no statutory conclusion period
--   (data/claim-types.csv);
UPDATE cases SET conclude_due = NULL WHERE regulation = '2022' AND claim_type IN (2, 3);
-- * supervision began with its latest event.
UPDATE cases c SET supervised_at = e.at
FROM (SELECT case_id, max(occurred_at) AS at FROM case_events WHERE action = 'supervised' GROUP BY case_id) e
WHERE e.case_id = c.id AND c.supervised;
UPDATE cases SET supervision_due = (supervised_at AT TIME ZONE 'UTC' + interval '8 hours')::date + 30
WHERE supervised AND supervised_at IS NOT NULL;

-- Their clocks' outcomes, decided once here as the workflow decides them from now on.
UPDATE cases SET
    assign_outcome = CASE
        WHEN assign_due IS NULL OR COALESCE(first_assigned_at, declined_at) IS NULL THEN 0
        WHEN bureau_date(COALESCE(first_assigned_at, declined_at)) <= assign_due THEN 1 ELSE 2 END,
    accept_outcome = CASE
        WHEN accept_due IS NULL
             OR COALESCE(accepted_at, CASE WHEN declined_at >= assigned_at THEN declined_at END) IS NULL THEN 0
        WHEN bureau_date(COALESCE(accepted_at, CASE WHEN declined_at >= assigned_at THEN declined_at END))
             <= accept_due THEN 1 ELSE 2 END,
    conclude_outcome = CASE
        WHEN conclude_due IS NULL
             OR (CASE WHEN assignment_mode = 2 THEN completion_confirmed_at ELSE replied_at END) IS NULL THEN 0
        WHEN bureau_date(CASE WHEN assignment_mode = 2 THEN completion_confirmed_at ELSE replied_at END)
             <= conclude_due THEN 1 ELSE 2 END;

-- The overdue lists find late 督办 replies by their due date.
CREATE INDEX cases_supervision_due_idx ON cases (supervision_due)
    WHERE supervised AND supervision_replied_at IS NULL;

-- The rollup of the clocks counts the stored outcomes and nothing else.
CREATE OR REPLACE FUNCTION case_deadline_facts(c cases) RETURNS TABLE (
    deadline smallint, due date, org_code text, on_time bigint, late bigint, open bigint
) LANGUAGE sql STABLE AS $$
    SELECT d.deadline::smallint, d.due, COALESCE(d.org_code, ''),
           (d.outcome = 1)::int, (d.outcome = 2)::int, (d.outcome = 0)::int
    FROM (VALUES
        (1, c.assign_due, c.problem_org_code, c.assign_outcome),
        (2, c.accept_due, c.responsible_org_code, c.accept_outcome),
        (3, c.conclude_due, c.responsible_org_code, c.conclude_outcome)
    ) AS d (deadline, due, org_code, outcome)
    WHERE d.due IS NOT NULL
$$;

SELECT rollups_rebuild();
