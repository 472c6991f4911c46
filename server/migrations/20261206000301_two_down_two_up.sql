-- 两降两升 per year: the four indicators (two to fall, two to rise) the county office chose for the year.
-- No official definition fixes them; a year without rows uses the default four (docs/indicators.md).
CREATE TABLE trend_goals (
    year        int NOT NULL CHECK (year BETWEEN 1990 AND 2200),
    position    smallint NOT NULL CHECK (position BETWEEN 1 AND 4),
    indicator   text NOT NULL CHECK (indicator ~ '^[a-z][a-z_]{1,60}$'),
    -- 1: should fall (降), 2: should rise (升).
    direction   smallint NOT NULL CHECK (direction IN (1, 2)),
    name        text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (year, position),
    UNIQUE (year, indicator)
);
