-- Rollups of the indicators (issue #7): the counts that GetIndicators and GetVisitStatistics add up, per month
-- (or per due date) and unit, so that a county-wide year reads a few thousand rows whatever the number of
-- visits and matters. Triggers keep them in the writing transaction; nothing else writes them.
--
-- The triggers are deferred constraint triggers: they run at commit, so the rollup row a registration adds to
-- (every desk registration of a day and township lands on the same few rows) is locked only for the commit
-- itself, not for the rest of the transaction. An UPDATE subtracts the old row's contribution and adds the
-- new one's, so corrections and every step of a matter move the counts with them. Rows that fall to zero are
-- kept: they are few and cost nothing to add up.
--
-- `rollups_rebuild()` recomputes all of them from the base tables with the same functions the triggers use;
-- bulk loads (which disable triggers) call it, and the tests compare it with what the triggers kept.
--
-- Months and dates are the bureau's (Asia/Shanghai), as everywhere in the indicators. Unit codes are '' for
-- a matter not yet given a responsible unit.

CREATE TABLE visit_months (
    month                  date NOT NULL,
    org_code               text NOT NULL,
    level                  text NOT NULL,
    batches                bigint NOT NULL,
    persons                bigint NOT NULL,
    initial_batches        bigint NOT NULL,
    initial_persons        bigint NOT NULL,
    repeat_batches         bigint NOT NULL,
    repeat_persons         bigint NOT NULL,
    collective_batches     bigint NOT NULL,
    collective_persons     bigint NOT NULL,
    leapfrog_batches       bigint NOT NULL,
    non_reception_batches  bigint NOT NULL,
    PRIMARY KEY (month, org_code, level)
);

CREATE TABLE letter_months (
    month     date NOT NULL,
    org_code  text NOT NULL,
    channel   text NOT NULL,
    letters   bigint NOT NULL,
    repeats   bigint NOT NULL,
    PRIMARY KEY (month, org_code, channel)
);

-- Matters by the due date of a step (1 assignment by the office, 2 acceptance by the unit, 3 conclusion),
-- split by whether the step was done by then, late, or not yet. Whether an undone step is overdue or still
-- pending depends on the day the indicator is asked for, so the due date stays a day.
CREATE TABLE case_deadline_days (
    deadline  smallint NOT NULL CHECK (deadline IN (1, 2, 3)),
    due       date NOT NULL,
    org_code  text NOT NULL,
    on_time   bigint NOT NULL,
    late      bigint NOT NULL,
    open      bigint NOT NULL,
    PRIMARY KEY (deadline, due, org_code)
);

-- Matters by the month of the event each count is dated by (acceptance, reply for the ratings, entry into
-- and resolution of the backlog), per responsible unit.
CREATE TABLE case_months (
    month                       date NOT NULL,
    org_code                    text NOT NULL,
    accepted                    bigint NOT NULL,
    evaluated                   bigint NOT NULL,
    office_rated                bigint NOT NULL,
    office_satisfied            bigint NOT NULL,
    office_basically            bigint NOT NULL,
    unit_rated                  bigint NOT NULL,
    unit_satisfied              bigint NOT NULL,
    unit_basically              bigint NOT NULL,
    backlog_listed              bigint NOT NULL,
    backlog_resolved            bigint NOT NULL,
    special_difficult_resolved  bigint NOT NULL,
    PRIMARY KEY (month, org_code)
);

CREATE FUNCTION bureau_month(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_trunc('month', t AT TIME ZONE 'Asia/Shanghai')::date;

CREATE FUNCTION bureau_date(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (t AT TIME ZONE 'Asia/Shanghai')::date;

-- What one visit adds to visit_months.
CREATE FUNCTION visit_facts(v visits) RETURNS TABLE (
    month date, org_code text, level text, batches bigint, persons bigint, initial_batches bigint,
    initial_persons bigint, repeat_batches bigint, repeat_persons bigint, collective_batches bigint,
    collective_persons bigint, leapfrog_batches bigint, non_reception_batches bigint
) LANGUAGE sql STABLE AS $$
    SELECT bureau_month(v.visited_at), v.problem_org_code, v.level, 1, v.headcount,
           (NOT v.repeat)::int, CASE WHEN v.repeat THEN 0 ELSE v.headcount END,
           v.repeat::int, CASE WHEN v.repeat THEN v.headcount ELSE 0 END,
           v.collective::int, CASE WHEN v.collective THEN v.headcount ELSE 0 END,
           v.leapfrog::int, v.non_reception_place::int
$$;

CREATE FUNCTION letter_facts(l letters) RETURNS TABLE (
    month date, org_code text, channel text, letters bigint, repeats bigint
) LANGUAGE sql STABLE AS $$
    SELECT bureau_month(l.received_at), l.problem_org_code, l.channel, 1, l.repeat::int
$$;

-- What one matter adds to case_deadline_days: a row per step with a due date. "Done" is when the step was
-- answered: the office's by the first assignment (or declining at registration), the unit's by accepting,
-- declining or objecting, the conclusion by the reply.
CREATE FUNCTION case_deadline_facts(c cases) RETURNS TABLE (
    deadline smallint, due date, org_code text, on_time bigint, late bigint, open bigint
) LANGUAGE sql STABLE AS $$
    SELECT d.deadline::smallint, d.due, COALESCE(d.org_code, ''),
           COALESCE((d.done <= d.due)::int, 0), COALESCE((d.done > d.due)::int, 0), (d.done IS NULL)::int
    FROM (VALUES
        (1, c.assign_due, c.problem_org_code, bureau_date(COALESCE(c.first_assigned_at, c.declined_at))),
        (2, c.accept_due, c.responsible_org_code,
            bureau_date(COALESCE(c.accepted_at, c.declined_at, c.objected_at))),
        (3, c.conclude_due, c.responsible_org_code, bureau_date(c.replied_at))
    ) AS d (deadline, due, org_code, done)
    WHERE d.due IS NOT NULL
$$;

-- What one matter adds to case_months. Ratings are xinfang.v1.Rating numbers: 1 satisfied, 2 basically
-- satisfied, 3 unsatisfied, 4 not participated. A backlog matter counts as resolved from the month both its
-- listing and its resolution lie behind.
CREATE FUNCTION case_month_facts(c cases) RETURNS TABLE (
    month date, org_code text, accepted bigint, evaluated bigint, office_rated bigint,
    office_satisfied bigint, office_basically bigint, unit_rated bigint, unit_satisfied bigint,
    unit_basically bigint, backlog_listed bigint, backlog_resolved bigint, special_difficult_resolved bigint
) LANGUAGE sql STABLE AS $$
    SELECT f.month, COALESCE(c.responsible_org_code, ''), sum(f.accepted), sum(f.evaluated),
           sum(f.office_rated), sum(f.office_satisfied), sum(f.office_basically), sum(f.unit_rated),
           sum(f.unit_satisfied), sum(f.unit_basically), sum(f.backlog_listed), sum(f.backlog_resolved),
           sum(f.special_difficult_resolved)
    FROM (VALUES
        (bureau_month(c.accepted_at), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (CASE WHEN c.evaluated_at IS NOT NULL THEN bureau_month(c.replied_at) END, 0, 1,
            (c.office_rating IN (1, 2, 3))::int, (c.office_rating = 1)::int, (c.office_rating = 2)::int,
            (c.unit_rating IN (1, 2, 3))::int, (c.unit_rating = 1)::int, (c.unit_rating = 2)::int, 0, 0, 0),
        (bureau_month(c.backlog_listed_at), 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0),
        (CASE WHEN c.backlog_listed_at IS NOT NULL AND c.backlog_resolved_at IS NOT NULL
              THEN bureau_month(GREATEST(c.backlog_listed_at, c.backlog_resolved_at)) END,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0),
        (CASE WHEN c.special_difficult THEN bureau_month(c.backlog_resolved_at) END,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    ) AS f (month, accepted, evaluated, office_rated, office_satisfied, office_basically, unit_rated,
            unit_satisfied, unit_basically, backlog_listed, backlog_resolved, special_difficult_resolved)
    WHERE f.month IS NOT NULL
    GROUP BY f.month
$$;

-- The triggers take away the old row's contribution (sign -1) and add the new one's (sign 1) in one
-- statement per rollup, netted per key (an INSERT ... ON CONFLICT may not touch a row twice). The statements
-- live in PL/pgSQL so that their plans are cached for the session: a SQL function's body would be planned
-- again at every call, inside the commit of every registration.
CREATE FUNCTION visit_months_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (SELECT f FROM visit_facts(OLD) f) IS NOT DISTINCT FROM (SELECT f FROM visit_facts(NEW) f) THEN
        RETURN NULL;
    END IF;
    INSERT INTO visit_months AS m
    SELECT f.month, f.org_code, f.level, sum(r.sign * f.batches), sum(r.sign * f.persons),
           sum(r.sign * f.initial_batches), sum(r.sign * f.initial_persons), sum(r.sign * f.repeat_batches),
           sum(r.sign * f.repeat_persons), sum(r.sign * f.collective_batches),
           sum(r.sign * f.collective_persons), sum(r.sign * f.leapfrog_batches),
           sum(r.sign * f.non_reception_batches)
    FROM (SELECT -1 AS sign, OLD AS v WHERE TG_OP <> 'INSERT'
          UNION ALL SELECT 1, NEW WHERE TG_OP <> 'DELETE') r
    CROSS JOIN LATERAL visit_facts(r.v) f
    GROUP BY 1, 2, 3
    ON CONFLICT (month, org_code, level) DO UPDATE SET
        batches = m.batches + EXCLUDED.batches, persons = m.persons + EXCLUDED.persons,
        initial_batches = m.initial_batches + EXCLUDED.initial_batches,
        initial_persons = m.initial_persons + EXCLUDED.initial_persons,
        repeat_batches = m.repeat_batches + EXCLUDED.repeat_batches,
        repeat_persons = m.repeat_persons + EXCLUDED.repeat_persons,
        collective_batches = m.collective_batches + EXCLUDED.collective_batches,
        collective_persons = m.collective_persons + EXCLUDED.collective_persons,
        leapfrog_batches = m.leapfrog_batches + EXCLUDED.leapfrog_batches,
        non_reception_batches = m.non_reception_batches + EXCLUDED.non_reception_batches;
    RETURN NULL;
END
$$;

CREATE FUNCTION letter_months_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (SELECT f FROM letter_facts(OLD) f) IS NOT DISTINCT FROM (SELECT f FROM letter_facts(NEW) f) THEN
        RETURN NULL;
    END IF;
    INSERT INTO letter_months AS m
    SELECT f.month, f.org_code, f.channel, sum(r.sign * f.letters), sum(r.sign * f.repeats)
    FROM (SELECT -1 AS sign, OLD AS l WHERE TG_OP <> 'INSERT'
          UNION ALL SELECT 1, NEW WHERE TG_OP <> 'DELETE') r
    CROSS JOIN LATERAL letter_facts(r.l) f
    GROUP BY 1, 2, 3
    ON CONFLICT (month, org_code, channel) DO UPDATE SET
        letters = m.letters + EXCLUDED.letters, repeats = m.repeats + EXCLUDED.repeats;
    RETURN NULL;
END
$$;

-- Most steps of a matter change nothing the rollups count (state, version, next_due, supervision): those
-- updates cost the comparison only.
CREATE FUNCTION case_rollups_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND ARRAY(SELECT f::text FROM case_deadline_facts(OLD) f)
           = ARRAY(SELECT f::text FROM case_deadline_facts(NEW) f)
       AND ARRAY(SELECT f::text FROM case_month_facts(OLD) f)
           = ARRAY(SELECT f::text FROM case_month_facts(NEW) f) THEN
        RETURN NULL;
    END IF;
    INSERT INTO case_deadline_days AS d
    SELECT f.deadline, f.due, f.org_code, sum(r.sign * f.on_time), sum(r.sign * f.late), sum(r.sign * f.open)
    FROM (SELECT -1 AS sign, OLD AS c WHERE TG_OP <> 'INSERT'
          UNION ALL SELECT 1, NEW WHERE TG_OP <> 'DELETE') r
    CROSS JOIN LATERAL case_deadline_facts(r.c) f
    GROUP BY 1, 2, 3
    ON CONFLICT (deadline, due, org_code) DO UPDATE SET
        on_time = d.on_time + EXCLUDED.on_time, late = d.late + EXCLUDED.late, open = d.open + EXCLUDED.open;
    INSERT INTO case_months AS m
    SELECT f.month, f.org_code, sum(r.sign * f.accepted), sum(r.sign * f.evaluated),
           sum(r.sign * f.office_rated), sum(r.sign * f.office_satisfied), sum(r.sign * f.office_basically),
           sum(r.sign * f.unit_rated), sum(r.sign * f.unit_satisfied), sum(r.sign * f.unit_basically),
           sum(r.sign * f.backlog_listed), sum(r.sign * f.backlog_resolved),
           sum(r.sign * f.special_difficult_resolved)
    FROM (SELECT -1 AS sign, OLD AS c WHERE TG_OP <> 'INSERT'
          UNION ALL SELECT 1, NEW WHERE TG_OP <> 'DELETE') r
    CROSS JOIN LATERAL case_month_facts(r.c) f
    GROUP BY 1, 2
    ON CONFLICT (month, org_code) DO UPDATE SET
        accepted = m.accepted + EXCLUDED.accepted, evaluated = m.evaluated + EXCLUDED.evaluated,
        office_rated = m.office_rated + EXCLUDED.office_rated,
        office_satisfied = m.office_satisfied + EXCLUDED.office_satisfied,
        office_basically = m.office_basically + EXCLUDED.office_basically,
        unit_rated = m.unit_rated + EXCLUDED.unit_rated,
        unit_satisfied = m.unit_satisfied + EXCLUDED.unit_satisfied,
        unit_basically = m.unit_basically + EXCLUDED.unit_basically,
        backlog_listed = m.backlog_listed + EXCLUDED.backlog_listed,
        backlog_resolved = m.backlog_resolved + EXCLUDED.backlog_resolved,
        special_difficult_resolved = m.special_difficult_resolved + EXCLUDED.special_difficult_resolved;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER visit_months_keep AFTER INSERT OR UPDATE OR DELETE ON visits
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION visit_months_keep();
CREATE CONSTRAINT TRIGGER letter_months_keep AFTER INSERT OR UPDATE OR DELETE ON letters
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION letter_months_keep();
CREATE CONSTRAINT TRIGGER case_rollups_keep AFTER INSERT OR UPDATE OR DELETE ON cases
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION case_rollups_keep();

CREATE FUNCTION rollups_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE visit_months, letter_months, case_deadline_days, case_months;
    INSERT INTO visit_months
    SELECT f.month, f.org_code, f.level, sum(f.batches), sum(f.persons), sum(f.initial_batches),
           sum(f.initial_persons), sum(f.repeat_batches), sum(f.repeat_persons), sum(f.collective_batches),
           sum(f.collective_persons), sum(f.leapfrog_batches), sum(f.non_reception_batches)
    FROM visits v CROSS JOIN LATERAL visit_facts(v) f GROUP BY 1, 2, 3;
    INSERT INTO letter_months
    SELECT f.month, f.org_code, f.channel, sum(f.letters), sum(f.repeats)
    FROM letters l CROSS JOIN LATERAL letter_facts(l) f GROUP BY 1, 2, 3;
    INSERT INTO case_deadline_days
    SELECT f.deadline, f.due, f.org_code, sum(f.on_time), sum(f.late), sum(f.open)
    FROM cases c CROSS JOIN LATERAL case_deadline_facts(c) f GROUP BY 1, 2, 3;
    INSERT INTO case_months
    SELECT f.month, f.org_code, sum(f.accepted), sum(f.evaluated), sum(f.office_rated),
           sum(f.office_satisfied), sum(f.office_basically), sum(f.unit_rated), sum(f.unit_satisfied),
           sum(f.unit_basically), sum(f.backlog_listed), sum(f.backlog_resolved),
           sum(f.special_difficult_resolved)
    FROM cases c CROSS JOIN LATERAL case_month_facts(c) f GROUP BY 1, 2;
$$;

SELECT rollups_rebuild();
