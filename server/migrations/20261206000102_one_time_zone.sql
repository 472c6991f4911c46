-- One definition of the bureau's calendar (docs/deadlines.md): a fixed UTC+8, the same as the service's Rust
-- (`time::BUREAU_OFFSET_HOURS`). `Asia/Shanghai` differs from it for the summer times of 1986–1991, so the
-- two used to disagree about which day an instant of those summers fell on. Every SQL date and month of the
-- bureau goes through these two functions.
CREATE OR REPLACE FUNCTION bureau_month(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_trunc('month', (t AT TIME ZONE 'UTC') + interval '8 hours')::date;

CREATE OR REPLACE FUNCTION bureau_date(t timestamptz) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ((t AT TIME ZONE 'UTC') + interval '8 hours')::date;

-- Only records of those summers can have moved between days or months.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM visits WHERE visited_at < '1992-01-01')
       OR EXISTS (SELECT 1 FROM letters WHERE received_at < '1992-01-01')
       OR EXISTS (SELECT 1 FROM cases WHERE registered_at < '1992-01-01') THEN
        PERFORM rollups_rebuild();
    END IF;
END
$$;
