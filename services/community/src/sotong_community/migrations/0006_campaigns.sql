-- Community, part 2: civic campaigns (task 10). A post's text is moderated (contents, kind campaign_post) before
-- its dispatch is written; results per account come from the publishing service's receipts.
CREATE TABLE campaigns (
    campaign_id uuid PRIMARY KEY,
    title text NOT NULL,
    created_by text NOT NULL,
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (created_by, request_id)
);
CREATE TABLE campaign_posts (
    post_id uuid PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns,
    text text NOT NULL,
    url text NOT NULL DEFAULT '',
    scheduled_at timestamptz NOT NULL,
    account_ids uuid[] NOT NULL,
    status text NOT NULL,                       -- in_moderation | in_review | scheduled | removed
    shown_text text NOT NULL DEFAULT '',
    clauses text[] NOT NULL DEFAULT '{}',
    created_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (created_by, request_id)
);
CREATE INDEX campaign_posts_calendar ON campaign_posts (scheduled_at);
CREATE TABLE campaign_results (
    post_id uuid NOT NULL REFERENCES campaign_posts,
    target text NOT NULL,
    outcome text NOT NULL,
    error text NOT NULL DEFAULT '',
    at timestamptz NOT NULL,
    PRIMARY KEY (post_id, target)
);
