-- The evaluation window (评价期限). A reply may publish the opinion for the petitioner's evaluation; the
-- matter is then due a rating by `evaluation_due` (fixed at publication), and one still unrated after it
-- counts as 未参评 in the participation rate (domain.md §2.1: never defaulted to satisfied). Matters outside
-- the scope of evaluation, and every matter replied before this migration, have no window.
ALTER TABLE cases ADD COLUMN evaluation_due date;

-- The lapsed evaluations of a period, by reply time. The index holds only published matters without a
-- rating (those still in their window and those that lapsed) and carries what the count filters on, so a
-- year of them is counted from the index alone.
CREATE INDEX cases_evaluation_lapsed_idx ON cases (replied_at)
    INCLUDE (evaluation_due, responsible_org_code)
    WHERE evaluation_due IS NOT NULL AND evaluated_at IS NULL;
