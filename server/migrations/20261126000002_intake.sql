-- Intake: petitioners (personal data encrypted), matters opened by registrations, visits, letters and
-- persuade-and-return trips, and the audit of unmasked personal-data reads.

-- Keyed material the database must agree with: the fingerprint of the personal-data key, so that a service
-- started with the wrong key refuses to run instead of writing records nobody can read.
CREATE TABLE settings (
    name   text PRIMARY KEY,
    value  text NOT NULL
);

-- The category dictionary (问题类别).
CREATE TABLE matter_categories (
    code  text PRIMARY KEY CHECK (code ~ '^[a-z][a-z_]{1,40}$'),
    name  text NOT NULL
);

-- One row per person. The ID number, phone and address exist only as ciphertext; the keyed hash of the ID
-- number finds the same person again (同人) without decrypting anything.
CREATE TABLE petitioners (
    id               uuid PRIMARY KEY,
    name             text NOT NULL,
    id_hash          bytea UNIQUE,
    id_number_enc    bytea,
    id_number_masked text,
    phone_enc        bytea,
    phone_masked     text,
    address_enc      bytea,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Petition matters (信访事项). Intake opens them in state 'registered'; the case lifecycle moves them on.
CREATE TABLE cases (
    id                uuid PRIMARY KEY,
    number            text NOT NULL UNIQUE,
    state             text NOT NULL DEFAULT 'registered',
    category_code     text NOT NULL REFERENCES matter_categories (code),
    problem_org_code  text NOT NULL REFERENCES org_units (code),
    content           text NOT NULL,
    demands           text NOT NULL,
    regulation        text NOT NULL DEFAULT '2022',
    registered_at     timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    version           bigint NOT NULL DEFAULT 1
);
CREATE INDEX cases_problem_org_idx ON cases (problem_org_code, registered_at);

CREATE TABLE case_petitioners (
    case_id        uuid NOT NULL REFERENCES cases (id),
    petitioner_id  uuid NOT NULL REFERENCES petitioners (id),
    PRIMARY KEY (case_id, petitioner_id)
);
CREATE INDEX case_petitioners_petitioner_idx ON case_petitioners (petitioner_id);

-- Yearly registration numbers (XF510422-2020-000123). The counter row is taken last in each registering
-- transaction, so the lock is held only for the commit.
CREATE TABLE registration_counters (
    prefix  text NOT NULL,
    year    int NOT NULL,
    last    bigint NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE visits (
    id                   uuid PRIMARY KEY,
    number               text NOT NULL UNIQUE,
    case_id              uuid NOT NULL REFERENCES cases (id),
    visited_at           timestamptz NOT NULL,
    level                text NOT NULL CHECK (level IN ('county', 'city', 'province', 'national')),
    non_reception_place  boolean NOT NULL,
    place_name           text NOT NULL,
    headcount            int NOT NULL CHECK (headcount >= 1),
    collective           boolean NOT NULL,
    repeat               boolean NOT NULL,
    leapfrog             boolean NOT NULL,
    -- Copied from the matter at registration: what the visit was about stays what it was.
    category_code        text NOT NULL REFERENCES matter_categories (code),
    problem_org_code     text NOT NULL REFERENCES org_units (code),
    content              text NOT NULL,
    demands              text NOT NULL,
    registered_by        uuid NOT NULL REFERENCES principals (id),
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visits_time_idx ON visits (visited_at DESC, id DESC);
CREATE INDEX visits_org_time_idx ON visits (problem_org_code, visited_at DESC, id DESC);
CREATE INDEX visits_registrar_idx ON visits (registered_by, visited_at DESC, id DESC);
CREATE INDEX visits_case_idx ON visits (case_id);

CREATE TABLE visit_petitioners (
    visit_id        uuid NOT NULL REFERENCES visits (id),
    position        int NOT NULL,
    petitioner_id   uuid NOT NULL REFERENCES petitioners (id),
    representative  boolean NOT NULL,
    PRIMARY KEY (visit_id, position)
);

CREATE TABLE letters (
    id                uuid PRIMARY KEY,
    number            text NOT NULL UNIQUE,
    case_id           uuid NOT NULL REFERENCES cases (id),
    channel           text NOT NULL CHECK (channel IN ('letter', 'phone', 'online', 'leader_mailbox',
                                                       'peoples_daily_board', 'transferred', 'assigned',
                                                       'campaign_transfer')),
    source_reference  text NOT NULL,
    campaign          text NOT NULL,
    received_at       timestamptz NOT NULL,
    anonymous         boolean NOT NULL,
    repeat            boolean NOT NULL,
    category_code     text NOT NULL REFERENCES matter_categories (code),
    problem_org_code  text NOT NULL REFERENCES org_units (code),
    content           text NOT NULL,
    demands           text NOT NULL,
    registered_by     uuid NOT NULL REFERENCES principals (id),
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((channel = 'campaign_transfer') = (campaign <> ''))
);
CREATE INDEX letters_time_idx ON letters (received_at DESC, id DESC);
CREATE INDEX letters_org_time_idx ON letters (problem_org_code, received_at DESC, id DESC);
CREATE INDEX letters_registrar_idx ON letters (registered_by, received_at DESC, id DESC);

CREATE TABLE letter_petitioners (
    letter_id      uuid NOT NULL REFERENCES letters (id),
    position       int NOT NULL,
    petitioner_id  uuid NOT NULL REFERENCES petitioners (id),
    PRIMARY KEY (letter_id, position)
);

CREATE TABLE return_trips (
    id                    uuid PRIMARY KEY,
    number                text NOT NULL UNIQUE,
    notified_by           text NOT NULL,
    notified_at           timestamptz NOT NULL,
    destination_level     text NOT NULL CHECK (destination_level IN ('city', 'province', 'national')),
    destination_place     text NOT NULL,
    non_reception_place   boolean NOT NULL,
    responsible_org_code  text NOT NULL REFERENCES org_units (code),
    officers              text[] NOT NULL,
    departed_at           timestamptz,
    arrived_at            timestamptz,
    returned_at           timestamptz,
    transport_cost        numeric(14, 2) NOT NULL DEFAULT 0 CHECK (transport_cost >= 0),
    lodging_cost          numeric(14, 2) NOT NULL DEFAULT 0 CHECK (lodging_cost >= 0),
    meal_cost             numeric(14, 2) NOT NULL DEFAULT 0 CHECK (meal_cost >= 0),
    other_cost            numeric(14, 2) NOT NULL DEFAULT 0 CHECK (other_cost >= 0),
    outcome               text NOT NULL CHECK (outcome IN ('under_way', 'returned', 'not_returned', 'handed_over')),
    report                text NOT NULL,
    -- Departure time, or notification time while the trip has not left: what periods count trips by.
    sort_at               timestamptz NOT NULL,
    recorded_by           uuid NOT NULL REFERENCES principals (id),
    recorded_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX return_trips_time_idx ON return_trips (sort_at DESC, id DESC);
CREATE INDEX return_trips_org_time_idx ON return_trips (responsible_org_code, sort_at DESC, id DESC);
CREATE INDEX return_trips_recorder_idx ON return_trips (recorded_by, sort_at DESC, id DESC);

CREATE TABLE return_trip_petitioners (
    trip_id        uuid NOT NULL REFERENCES return_trips (id),
    position       int NOT NULL,
    petitioner_id  uuid NOT NULL REFERENCES petitioners (id),
    PRIMARY KEY (trip_id, position)
);

CREATE TABLE return_trip_cases (
    trip_id  uuid NOT NULL REFERENCES return_trips (id),
    case_id  uuid NOT NULL REFERENCES cases (id),
    PRIMARY KEY (trip_id, case_id)
);

-- Every response that showed a petitioner's personal data unmasked: who saw whose, when, through what.
CREATE TABLE pii_reads (
    id             bigserial PRIMARY KEY,
    principal_id   uuid NOT NULL REFERENCES principals (id),
    petitioner_id  uuid NOT NULL REFERENCES petitioners (id),
    method         text NOT NULL,
    read_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pii_reads_petitioner_idx ON pii_reads (petitioner_id, read_at);
