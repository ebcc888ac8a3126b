-- Every decision the pipeline (or later a moderator) made, with the evidence that explains it.
CREATE TABLE decisions (
    decision_id uuid PRIMARY KEY,
    content_id text NOT NULL,
    content_type text NOT NULL,
    source_event_id text NOT NULL UNIQUE,
    action text NOT NULL,
    categories text[] NOT NULL DEFAULT '{}',
    evidence jsonb NOT NULL DEFAULT '[]',
    policy_version text NOT NULL DEFAULT '',
    model_version text NOT NULL DEFAULT '',
    decided_by text NOT NULL DEFAULT 'pipeline',
    decided_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_content ON decisions (content_id, decided_at DESC);
CREATE INDEX decisions_review_queue ON decisions (decided_at) WHERE action = 'review';
