-- The due lists (ListCases overdue / due within, issue #19's mixed load) find the cases waiting for a step
-- by its due date: the states are `cases::store::WAITING`, whose `next_due` is someone's deadline. A
-- concluded case keeps its review window in `next_due`, so `cases_next_due_idx` holds nearly every case.
CREATE INDEX cases_waiting_due_idx ON cases (next_due)
    WHERE state IN ('registered', 'returned', 'assigned', 'accepted', 'review_requested');
