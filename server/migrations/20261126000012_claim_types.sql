-- The kind of claim of a matter (诉求类型, xinfang.v1.ClaimType: 0 unspecified, 1 申诉求决, 2 建议意见,
-- 3 检举控告) and, for accusations, the unit accused. Visits and letters copy them from their registration
-- like the rest of the matter's description, so that scoping a record needs no join.
ALTER TABLE cases
    ADD COLUMN claim_type        smallint NOT NULL DEFAULT 0 CHECK (claim_type IN (0, 1, 2, 3)),
    ADD COLUMN accused_org_code  text REFERENCES org_units (code),
    ADD CONSTRAINT cases_accused_check CHECK ((accused_org_code IS NOT NULL) = (claim_type = 3)),
    -- The unit an accusation accuses never handles it.
    ADD CONSTRAINT cases_accused_not_responsible CHECK (responsible_org_code IS DISTINCT FROM accused_org_code
                                                        OR accused_org_code IS NULL);
ALTER TABLE visits
    ADD COLUMN claim_type        smallint NOT NULL DEFAULT 0 CHECK (claim_type IN (0, 1, 2, 3)),
    ADD COLUMN accused_org_code  text REFERENCES org_units (code);
ALTER TABLE letters
    ADD COLUMN claim_type        smallint NOT NULL DEFAULT 0 CHECK (claim_type IN (0, 1, 2, 3)),
    ADD COLUMN accused_org_code  text REFERENCES org_units (code);
