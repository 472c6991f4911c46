-- A target's weight becomes its share of the 50 output points in percent (0–100; a year's set weights add up
-- to at most 100, which SetTarget checks), where it was points out of 50. Stored weights keep their points:
-- w points are 2w percent. A weight past the 50 points was meaningless before and is capped at 100.
-- docs/indicators.md, "Targets".
UPDATE targets SET weight = LEAST(weight * 2, 100) WHERE weight IS NOT NULL;

ALTER TABLE targets ADD CONSTRAINT targets_weight_percent CHECK (weight BETWEEN 0 AND 100);

COMMENT ON COLUMN targets.weight IS
    'share of the 50 output points in percent, 0-100; NULL shares what the set weights leave equally';
