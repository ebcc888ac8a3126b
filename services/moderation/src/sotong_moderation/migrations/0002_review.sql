-- Moderators: the content behind each decision, the human review queue, appeals, and the audit columns of a
-- decision (who decided, why, which decision it replaced).
ALTER TABLE decisions
    ADD COLUMN reason text NOT NULL DEFAULT '',
    ADD COLUMN previous_decision_id uuid,
    ADD COLUMN masked_text text NOT NULL DEFAULT '';
CREATE INDEX decisions_by_moderators ON decisions (decided_at) WHERE decided_by <> 'pipeline';

-- The text as judged, once per piece of content: moderators read it, appeals reopen it, exports label it.
CREATE TABLE contents (
    content_id text PRIMARY KEY,
    content_type text NOT NULL,
    author text NOT NULL DEFAULT '',
    text text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Content waiting for a person; a row leaves when a moderator decides.
CREATE TABLE review_queue (
    content_id text PRIMARY KEY REFERENCES contents (content_id),
    content_type text NOT NULL,
    decision_id uuid NOT NULL,
    categories text[] NOT NULL DEFAULT '{}',
    reason text NOT NULL,              -- 'pipeline' | 'appeal'
    appeal_id uuid,
    queued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_queue_order ON review_queue (queued_at, content_id);
CREATE INDEX review_queue_categories ON review_queue USING gin (categories);

CREATE TABLE appeals (
    appeal_id uuid PRIMARY KEY,
    content_id text NOT NULL REFERENCES contents (content_id),
    decision_id uuid NOT NULL,
    appealed_by text NOT NULL,
    roles text[] NOT NULL DEFAULT '{}',
    reason text NOT NULL,
    appealed_at timestamptz NOT NULL DEFAULT now(),
    resolved_by_decision_id uuid
);
CREATE INDEX appeals_content ON appeals (content_id, appealed_at);
