-- Submissions as accepted from every channel, their status history, and the sealed reporter contact.
CREATE TABLE submissions (
    id uuid PRIMARY KEY,
    tracking_id text NOT NULL UNIQUE,
    kind text NOT NULL,
    text text NOT NULL,
    category text,
    lat double precision,
    lng double precision,
    address_text text,
    district_code text,
    neighbourhood_code text,
    media_urls text[] NOT NULL DEFAULT '{}',
    channel text NOT NULL,
    channel_message_id text,
    status text NOT NULL,
    moderation_categories text[] NOT NULL DEFAULT '{}',
    moderation_decision_id text,
    received_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- The idempotency key: the same channel message always maps to the same submission.
CREATE UNIQUE INDEX submissions_channel_message ON submissions (channel, channel_message_id)
    WHERE channel_message_id IS NOT NULL;
CREATE INDEX submissions_status ON submissions (status, received_at);

CREATE TABLE submission_status_history (
    id bigserial PRIMARY KEY,
    submission_id uuid NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    status text NOT NULL,
    note text NOT NULL DEFAULT '',
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submission_status_history_submission ON submission_status_history (submission_id, id);

-- Personal data lives apart from the submission so it can be purged without touching the report.
CREATE TABLE reporter_contacts (
    submission_id uuid PRIMARY KEY REFERENCES submissions (id) ON DELETE CASCADE,
    sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
