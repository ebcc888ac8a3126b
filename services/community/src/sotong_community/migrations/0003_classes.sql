-- Community, part 2: free SNS classes (task 8). Seat counts live on the class row, changed under its lock in the
-- transaction of each enrolment, cancellation, offer and acceptance, so enrolled + offered never exceeds capacity.
CREATE TABLE classes (
    class_id uuid PRIMARY KEY,
    title text NOT NULL,
    level text NOT NULL,
    venue jsonb NOT NULL,                       -- name, district_code, address, accessible, online
    district_code text NOT NULL DEFAULT '',
    instructor text NOT NULL DEFAULT '',
    sessions jsonb NOT NULL,                    -- [{"starts_at": iso, "minutes": n}], in order
    first_session timestamptz NOT NULL,
    capacity integer NOT NULL CHECK (capacity > 0),
    min_age integer NOT NULL DEFAULT 0,
    waitlist boolean NOT NULL,
    offer_hold_s integer NOT NULL,
    enrolled integer NOT NULL DEFAULT 0,
    offered integer NOT NULL DEFAULT 0,
    waitlisted integer NOT NULL DEFAULT 0,
    arrivals bigint NOT NULL DEFAULT 0,
    last_position integer NOT NULL DEFAULT 0,
    created_by text NOT NULL,
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (created_by, request_id),
    CHECK (enrolled + offered <= capacity)
);

-- One live enrolment per person and class. `person` is the citizen's subject (app, KakaoTalk) or, by phone, a
-- keyed hash of the number (never the number); the contact is encrypted at rest (AES-GCM, the class's key ring).
CREATE TABLE enrolments (
    enrolment_id uuid PRIMARY KEY,
    class_id uuid NOT NULL REFERENCES classes,
    person text NOT NULL,
    channel text NOT NULL,                      -- app | kakao | phone
    status text NOT NULL,                       -- enrolled | waitlisted | offered | cancelled | offer_expired
    arrival bigint NOT NULL,
    position integer NOT NULL DEFAULT 0,
    contact bytea,
    offer_expires_at timestamptz,
    offers integer NOT NULL DEFAULT 0,
    enrolled_by text NOT NULL,
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (class_id, arrival),
    UNIQUE (enrolled_by, request_id)
);
CREATE UNIQUE INDEX enrolments_live ON enrolments (class_id, person)
    WHERE status IN ('enrolled', 'waitlisted', 'offered');
CREATE INDEX enrolments_waiting ON enrolments (class_id, position) WHERE status = 'waitlisted';
CREATE INDEX enrolments_offers ON enrolments (offer_expires_at) WHERE status = 'offered';

CREATE TABLE class_attendance (
    enrolment_id uuid NOT NULL REFERENCES enrolments,
    session integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enrolment_id, session)
);

-- Reminders sent the day before a session: one per enrolment and session (the mark and the dispatch are one
-- transaction).
CREATE TABLE class_reminders (
    enrolment_id uuid NOT NULL REFERENCES enrolments,
    session integer NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enrolment_id, session)
);
