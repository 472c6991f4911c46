-- Two transactions that commit at the same time each lock the rollup rows their changes touch. Each
-- trigger's upsert now takes its rows in key order, so two commits meet on a shared row in the same order
-- and one waits instead of both deadlocking. (Rows of different tables, or of several changes in one
-- transaction, can still meet in opposite orders; the service runs a write that lost such a race again.)

CREATE OR REPLACE FUNCTION visit_months_keep() RETURNS trigger LANGUAGE plpgsql AS $$
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
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
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

CREATE OR REPLACE FUNCTION letter_months_keep() RETURNS trigger LANGUAGE plpgsql AS $$
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
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (month, org_code, channel) DO UPDATE SET
        letters = m.letters + EXCLUDED.letters, repeats = m.repeats + EXCLUDED.repeats;
    RETURN NULL;
END
$$;

-- Most steps of a matter change nothing the rollups count (state, version, next_due, supervision): those
-- updates cost the comparison only.
CREATE OR REPLACE FUNCTION case_rollups_keep() RETURNS trigger LANGUAGE plpgsql AS $$
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
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
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
    GROUP BY 1, 2 ORDER BY 1, 2
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
