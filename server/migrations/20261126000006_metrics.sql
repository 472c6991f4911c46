-- Declared performance targets (绩效目标) per year and indicator.
CREATE TABLE targets (
    year         int NOT NULL CHECK (year BETWEEN 1990 AND 2200),
    indicator    text NOT NULL CHECK (indicator ~ '^[a-z][a-z_]{1,60}$'),
    direction    smallint NOT NULL CHECK (direction IN (1, 2, 3)),
    value        numeric(18, 4) NOT NULL,
    -- Points within the 50 output points; NULL shares them equally.
    weight       numeric(6, 2) CHECK (weight >= 0),
    cap_formula  smallint NOT NULL DEFAULT 1 CHECK (cap_formula IN (1, 2)),
    name         text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (year, indicator)
);
