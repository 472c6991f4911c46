-- What decides a case's initial/repeat flags, read without reading the whole case (issue #19): a set joining
-- a case needs only the registrations stored as initial and the case's true initial one (its earliest not
-- answered 不再受理, by (at, id)); `intake::matching::flags` says why those give the same flags as all.
-- The case indexes are now in date order, so the earliest is the first entry not answered 不再受理 (and
-- reading a whole case in date order, as one-by-one settling does, needs no sort); the partial indexes find
-- the rows stored as initial, about one per case.
DROP INDEX visits_case_idx;
CREATE INDEX visits_case_idx ON visits (case_id, visited_at, id);
CREATE INDEX visits_case_initial_idx ON visits (case_id) WHERE NOT repeat;

DROP INDEX letters_case_idx;
CREATE INDEX letters_case_idx ON letters (case_id, received_at, id);
CREATE INDEX letters_case_initial_idx ON letters (case_id) WHERE NOT repeat;
