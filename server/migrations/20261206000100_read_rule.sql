-- The read rule (docs/access.md). A field officer or an agency system reads the matters its own registrations
-- opened: `opened_by` names that registrar. A matter's number is the number of the registration that opened it,
-- which finds the registrar of the matters opened before this column existed; bulk loads leave it empty, and
-- then only county roles and the handling unit read the matter.
ALTER TABLE cases ADD COLUMN opened_by uuid REFERENCES principals (id);
UPDATE cases c SET opened_by = r.registered_by
FROM (SELECT number, registered_by FROM visits UNION ALL SELECT number, registered_by FROM letters) r
WHERE r.number = c.number;
CREATE INDEX cases_opened_by ON cases (opened_by) WHERE opened_by IS NOT NULL;

-- A trip's link lets its officer read the matter only when whoever made the link could read the matter then.
-- Links are refused otherwise since this migration; of the links made before it, a field officer's link to a
-- matter its registrations did not open vouches for nothing.
ALTER TABLE return_trip_cases ADD COLUMN vouched boolean NOT NULL DEFAULT true;
UPDATE return_trip_cases rc SET vouched = false
FROM return_trips t, principals p, cases c
WHERE t.id = rc.trip_id AND p.id = t.recorded_by AND c.id = rc.case_id
  AND p.role = 'field_officer' AND c.opened_by IS DISTINCT FROM t.recorded_by;

-- The county has one petition office (信访局): the one that registers, assigns and is judged as such.
CREATE UNIQUE INDEX org_units_one_petition_office ON org_units ((kind)) WHERE kind = 'petition_office';
