-- Operator workflow, near-duplicates, followers, webhook replay protection and contact retention.
ALTER TABLE submissions
    ADD COLUMN source text,
    ADD COLUMN duplicate_of uuid REFERENCES submissions (id) ON DELETE SET NULL,
    ADD COLUMN duplicate_candidate_of uuid REFERENCES submissions (id) ON DELETE SET NULL,
    ADD COLUMN duplicate_score double precision,
    ADD COLUMN follower_count integer NOT NULL DEFAULT 0,
    -- When the submission reached a closed status (resolved, rejected, referred, duplicate, removed); the
    -- contact retention period runs from here.
    ADD COLUMN closed_at timestamptz,
    ADD COLUMN legal_hold boolean NOT NULL DEFAULT false;

-- ListSubmissions pages newest first by (received_at, id); duplicate candidates come from the same category and
-- district within a time window.
CREATE INDEX submissions_received ON submissions (received_at DESC, id DESC);
CREATE INDEX submissions_category_district ON submissions (category, district_code, received_at);

CREATE TABLE submission_followers (
    submission_id uuid NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    follower text NOT NULL,
    followed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, follower)
);

-- Every verified Standard Webhooks delivery id per source, so a replay is refused even when its body was bad.
CREATE TABLE webhook_deliveries (
    source text NOT NULL,
    webhook_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    submission_id uuid REFERENCES submissions (id) ON DELETE SET NULL,
    PRIMARY KEY (source, webhook_id)
);
