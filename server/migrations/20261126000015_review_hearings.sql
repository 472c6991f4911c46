-- 听证 during a 复核: its days are not counted in the decision deadline (domain.md §1, Art 36). The matter
-- keeps the days paused so far and the last day of the latest hearing, so hearings never overlap.
ALTER TABLE cases
    ADD COLUMN hearing_days integer NOT NULL DEFAULT 0 CHECK (hearing_days >= 0),
    ADD COLUMN hearing_until date;
