-- Intake's domain edges (issue #15, docs/intake.md).
--
-- 同人 without an ID number: the keyed hash (HMAC under the personal-data key) of the normalized name and phone
-- finds the same person again; the phone itself stays sealed. Not unique: people without an ID number are
-- still a new row at every registration, and the hash matches them across those rows.
ALTER TABLE petitioners ADD COLUMN contact_hash bytea;
CREATE INDEX petitioners_contact_hash_idx ON petitioners (contact_hash) WHERE contact_hash IS NOT NULL;

-- Proxies (代理人) are listed with the registration they act in, never as petitioners of its matter.
ALTER TABLE visit_petitioners
    ADD COLUMN proxy boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT visit_petitioners_proxy_check CHECK (NOT (proxy AND representative));
ALTER TABLE letter_petitioners ADD COLUMN proxy boolean NOT NULL DEFAULT false;

-- 不再受理 (ground 6): a repeat of a matter that was final on the registration's date. Large-scale collective
-- visits (大规模集体访), derived at registration like `collective`; rows of before are judged by the default
-- threshold of 50 persons.
ALTER TABLE visits
    ADD COLUMN not_accepted_again boolean NOT NULL DEFAULT false,
    ADD COLUMN large_scale boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT visits_not_accepted_again_check CHECK (repeat OR NOT not_accepted_again);
ALTER TABLE letters
    ADD COLUMN not_accepted_again boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT letters_not_accepted_again_check CHECK (repeat OR NOT not_accepted_again);
-- A matter's registrations are read together to find its initial one.
CREATE INDEX letters_case_idx ON letters (case_id);

-- The large-scale counts of visit_months. `visit_facts` gains two columns, so it is dropped and created
-- again (its callers are PL/pgSQL and SQL functions with string bodies, resolved at call time); the trigger
-- function and the rebuild are replaced to carry them. UPDATE the flag below only once the facts know it.
ALTER TABLE visit_months
    ADD COLUMN large_scale_batches bigint NOT NULL DEFAULT 0,
    ADD COLUMN large_scale_persons bigint NOT NULL DEFAULT 0;

DROP FUNCTION visit_facts(visits);
CREATE FUNCTION visit_facts(v visits) RETURNS TABLE (
    month date, org_code text, level text, batches bigint, persons bigint, initial_batches bigint,
    initial_persons bigint, repeat_batches bigint, repeat_persons bigint, collective_batches bigint,
    collective_persons bigint, leapfrog_batches bigint, non_reception_batches bigint,
    large_scale_batches bigint, large_scale_persons bigint
) LANGUAGE sql STABLE AS $$
    SELECT bureau_month(v.visited_at), v.problem_org_code, v.level, 1, v.headcount,
           (NOT v.repeat)::int, CASE WHEN v.repeat THEN 0 ELSE v.headcount END,
           v.repeat::int, CASE WHEN v.repeat THEN v.headcount ELSE 0 END,
           v.collective::int, CASE WHEN v.collective THEN v.headcount ELSE 0 END,
           v.leapfrog::int, v.non_reception_place::int,
           v.large_scale::int, CASE WHEN v.large_scale THEN v.headcount ELSE 0 END
$$;

-- As in 20261126000013 (rows taken in key order), with the large-scale columns, and the columns named so
-- that a later column cannot silently take a default.
CREATE OR REPLACE FUNCTION visit_months_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (SELECT f FROM visit_facts(OLD) f) IS NOT DISTINCT FROM (SELECT f FROM visit_facts(NEW) f) THEN
        RETURN NULL;
    END IF;
    INSERT INTO visit_months AS m (month, org_code, level, batches, persons, initial_batches, initial_persons,
                                   repeat_batches, repeat_persons, collective_batches, collective_persons,
                                   leapfrog_batches, non_reception_batches, large_scale_batches,
                                   large_scale_persons)
    SELECT f.month, f.org_code, f.level, sum(r.sign * f.batches), sum(r.sign * f.persons),
           sum(r.sign * f.initial_batches), sum(r.sign * f.initial_persons), sum(r.sign * f.repeat_batches),
           sum(r.sign * f.repeat_persons), sum(r.sign * f.collective_batches),
           sum(r.sign * f.collective_persons), sum(r.sign * f.leapfrog_batches),
           sum(r.sign * f.non_reception_batches), sum(r.sign * f.large_scale_batches),
           sum(r.sign * f.large_scale_persons)
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
        non_reception_batches = m.non_reception_batches + EXCLUDED.non_reception_batches,
        large_scale_batches = m.large_scale_batches + EXCLUDED.large_scale_batches,
        large_scale_persons = m.large_scale_persons + EXCLUDED.large_scale_persons;
    RETURN NULL;
END
$$;

-- The rebuild of 20261126000010 with the visit months' new columns; the other three rollups as before.
-- The visit rollups get a function of their own, so that a later change to the matter rollups can replace
-- `rollups_rebuild()` without restating them.
CREATE FUNCTION visit_rollups_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE visit_months, letter_months;
    INSERT INTO visit_months (month, org_code, level, batches, persons, initial_batches, initial_persons,
                              repeat_batches, repeat_persons, collective_batches, collective_persons,
                              leapfrog_batches, non_reception_batches, large_scale_batches, large_scale_persons)
    SELECT f.month, f.org_code, f.level, sum(f.batches), sum(f.persons), sum(f.initial_batches),
           sum(f.initial_persons), sum(f.repeat_batches), sum(f.repeat_persons), sum(f.collective_batches),
           sum(f.collective_persons), sum(f.leapfrog_batches), sum(f.non_reception_batches),
           sum(f.large_scale_batches), sum(f.large_scale_persons)
    FROM visits v CROSS JOIN LATERAL visit_facts(v) f GROUP BY 1, 2, 3;
    INSERT INTO letter_months
    SELECT f.month, f.org_code, f.channel, sum(f.letters), sum(f.repeats)
    FROM letters l CROSS JOIN LATERAL letter_facts(l) f GROUP BY 1, 2, 3;
$$;

CREATE OR REPLACE FUNCTION rollups_rebuild() RETURNS void LANGUAGE sql AS $$
    SELECT visit_rollups_rebuild();
    TRUNCATE case_deadline_days, case_months;
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

-- Visits of before: large-scale by the default threshold. The trigger moves their months' counts.
UPDATE visits SET large_scale = true WHERE headcount >= 50;
