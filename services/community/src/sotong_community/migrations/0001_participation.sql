-- Community, part 1: citizen participation. Every table of the service lives in schema `community`.

-- Participation spaces: thresholds, periods and answer states per space (Seoul's defaults in the first row).
CREATE TABLE spaces (
    space_id text PRIMARY KEY,
    title text NOT NULL,
    support_threshold integer NOT NULL,
    answer_threshold integer NOT NULL,
    answer_period_s bigint NOT NULL,
    archive_after_s bigint NOT NULL,
    support_verification text NOT NULL,
    answer_states jsonb NOT NULL,
    department text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO spaces VALUES (
    'seoul', '서울시 시민제안', 100, 1000, 30 * 86400, 365 * 86400, 'identity',
    '[{"code": "evaluating", "kind": "evaluating", "label": "검토 중"},
      {"code": "accepted", "kind": "accepted", "label": "수용"},
      {"code": "partially_accepted", "kind": "partially_accepted", "label": "부분 수용"},
      {"code": "rejected", "kind": "rejected", "label": "불수용"}]',
    '시민소통기획관', now());

-- Citizen communities (task 5).
CREATE TABLE groups (
    community_id uuid PRIMARY KEY,
    owner text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    shown_name text NOT NULL DEFAULT '',
    shown_description text NOT NULL DEFAULT '',
    district_code text NOT NULL DEFAULT '',
    topic text NOT NULL DEFAULT '',
    status text NOT NULL,                       -- in_moderation | active | rejected
    content_id text NOT NULL,
    clauses text[] NOT NULL DEFAULT '{}',
    member_count bigint NOT NULL DEFAULT 1,
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner, request_id)
);
CREATE TABLE members (
    community_id uuid NOT NULL REFERENCES groups,
    citizen text NOT NULL,
    role text NOT NULL,                         -- owner | moderator | member
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, citizen)
);
CREATE TABLE join_requests (
    community_id uuid NOT NULL REFERENCES groups,
    citizen text NOT NULL,
    message text NOT NULL DEFAULT '',
    status text NOT NULL,                       -- pending | approved | rejected
    requested_at timestamptz NOT NULL DEFAULT now(),
    decided_by text,
    PRIMARY KEY (community_id, citizen)
);

-- Proposals and their state machine; every transition is a row here and an event on community.proposal-changed.v1.
CREATE TABLE proposals (
    proposal_id uuid PRIMARY KEY,
    space_id text NOT NULL REFERENCES spaces,
    author text NOT NULL,
    community_id uuid REFERENCES groups,
    title text NOT NULL,
    body text NOT NULL,
    category text NOT NULL DEFAULT '',
    district_code text NOT NULL DEFAULT '',
    department text NOT NULL DEFAULT '',
    state text NOT NULL,
    revision integer NOT NULL DEFAULT 1,
    shown_title text NOT NULL DEFAULT '',       -- as moderation published it (masked)
    shown_body text NOT NULL DEFAULT '',
    clauses text[] NOT NULL DEFAULT '{}',
    support_count bigint NOT NULL DEFAULT 0,
    like_count bigint NOT NULL DEFAULT 0,
    participant_count bigint NOT NULL DEFAULT 0,
    sequence bigint NOT NULL DEFAULT 0,         -- transitions so far
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    forum_opened_at timestamptz,
    answer_deadline timestamptz,
    request_id text NOT NULL,
    UNIQUE (author, request_id)
);
CREATE INDEX proposals_public ON proposals (space_id, published_at DESC, proposal_id) WHERE published_at IS NOT NULL;
CREATE INDEX proposals_due ON proposals (answer_deadline) WHERE state = 'answer_required';
CREATE INDEX proposals_archivable ON proposals (published_at) WHERE state IN ('published', 'forum_open');

CREATE TABLE transitions (
    proposal_id uuid NOT NULL REFERENCES proposals,
    sequence bigint NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    transition text NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (proposal_id, sequence)
);

-- Supports are secret (only counts leave this table), one per citizen; likes and forum participation apart.
CREATE TABLE supports (
    proposal_id uuid NOT NULL,
    citizen text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (proposal_id, citizen)
);
CREATE TABLE likes (
    proposal_id uuid NOT NULL,
    citizen text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (proposal_id, citizen)
);
CREATE TABLE forum_participants (
    proposal_id uuid NOT NULL,
    citizen text NOT NULL,
    stance text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (proposal_id, citizen)
);

CREATE TABLE answers (
    proposal_id uuid PRIMARY KEY REFERENCES proposals,
    state_code text NOT NULL,
    kind text NOT NULL,
    label text NOT NULL,
    text text NOT NULL,
    staged_by text NOT NULL,
    staged_at timestamptz NOT NULL,
    published_at timestamptz,
    published_by text,
    published_text text,
    published_state text
);
CREATE TABLE progress (
    proposal_id uuid NOT NULL REFERENCES proposals,
    seq integer NOT NULL,
    percent integer NOT NULL,
    text text NOT NULL,
    done boolean NOT NULL,
    by text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (proposal_id, seq)
);

-- Every text a citizen wrote, as moderation sees it and decides it. `entity` is the row it belongs to.
CREATE TABLE contents (
    content_id text PRIMARY KEY,
    kind text NOT NULL,                         -- proposal | comment | debate | statement | group | post | poll_answer
    entity text NOT NULL,
    author text NOT NULL,
    text text NOT NULL,
    status text NOT NULL,                       -- in_moderation | published | in_review | hidden | removed
    masked_text text NOT NULL DEFAULT '',
    clauses text[] NOT NULL DEFAULT '{}',
    decision_id text NOT NULL DEFAULT '',
    decided_at timestamptz,
    report_count integer NOT NULL DEFAULT 0,
    district_code text NOT NULL DEFAULT '',
    counted boolean NOT NULL DEFAULT false,     -- counted in the opinion statistics (once, when first published)
    posted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contents_waiting ON contents (posted_at) WHERE status IN ('in_review', 'hidden');

CREATE TABLE reports (
    content_id text NOT NULL REFERENCES contents,
    reporter text NOT NULL,
    reason text NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (content_id, reporter)
);

-- Comments: one level of a thread is (target, parent) ordered by seq, so a page is one index range whatever the
-- thread's size. Only published comments are in the index the public pages read.
CREATE TABLE comments (
    comment_id uuid PRIMARY KEY,
    seq bigserial NOT NULL,
    target_kind text NOT NULL,
    target_id uuid NOT NULL,
    parent_id uuid NOT NULL,                    -- the nil uuid for a top-level comment
    author text NOT NULL,
    content_id text NOT NULL,
    status text NOT NULL,
    shown_text text NOT NULL DEFAULT '',
    masked boolean NOT NULL DEFAULT false,
    reply_count bigint NOT NULL DEFAULT 0,
    complaint_tracking_id text NOT NULL DEFAULT '',
    routed boolean NOT NULL DEFAULT false,
    district_code text NOT NULL DEFAULT '',
    category text NOT NULL DEFAULT '',
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (author, request_id)
);
CREATE INDEX comments_thread ON comments (target_kind, target_id, parent_id, seq) WHERE status = 'published';
CREATE INDEX comments_by_author ON comments (author, target_id, parent_id, seq);

-- Debates, their statements and votes (opinion groups).
CREATE TABLE debates (
    debate_id uuid PRIMARY KEY,
    space_id text NOT NULL REFERENCES spaces,
    community_id uuid REFERENCES groups,
    author text NOT NULL,
    title text NOT NULL,
    description text NOT NULL,
    shown_title text NOT NULL DEFAULT '',
    shown_description text NOT NULL DEFAULT '',
    status text NOT NULL,                       -- in_moderation | open | rejected | closed
    content_id text NOT NULL,
    clauses text[] NOT NULL DEFAULT '{}',
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (author, request_id)
);
CREATE TABLE statements (
    statement_id bigserial PRIMARY KEY,
    debate_id uuid NOT NULL REFERENCES debates,
    author text NOT NULL,
    content_id text NOT NULL,
    status text NOT NULL,
    shown_text text NOT NULL DEFAULT '',
    agree bigint NOT NULL DEFAULT 0,
    disagree bigint NOT NULL DEFAULT 0,
    pass bigint NOT NULL DEFAULT 0,
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (author, request_id)
);
CREATE INDEX statements_debate ON statements (debate_id, statement_id);
CREATE TABLE statement_votes (
    statement_id bigint NOT NULL REFERENCES statements,
    debate_id uuid NOT NULL,
    citizen text NOT NULL,
    vote smallint NOT NULL,                     -- 1 agree, -1 disagree, 0 pass (Polis's convention)
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (statement_id, citizen)
);
CREATE INDEX statement_votes_debate ON statement_votes (debate_id, at);
CREATE TABLE opinion_groups (
    debate_id uuid PRIMARY KEY REFERENCES debates,
    computed_at timestamptz NOT NULL,
    seed bigint NOT NULL,
    input_digest text NOT NULL,
    votes bigint NOT NULL,
    result jsonb NOT NULL
);

-- Community posts.
CREATE TABLE posts (
    post_id uuid PRIMARY KEY,
    seq bigserial NOT NULL,
    community_id uuid NOT NULL REFERENCES groups,
    author text NOT NULL,
    content_id text NOT NULL,
    status text NOT NULL,
    shown_text text NOT NULL DEFAULT '',
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (author, request_id)
);
CREATE INDEX posts_community ON posts (community_id, seq DESC) WHERE status = 'published';

-- Polls and surveys; results are counted as responses arrive (live), per district and age band.
CREATE TABLE polls (
    poll_id uuid PRIMARY KEY,
    title text NOT NULL,
    description text NOT NULL,
    questions jsonb NOT NULL,
    opens_at timestamptz NOT NULL,
    closes_at timestamptz NOT NULL,
    closed_at timestamptz,
    changeable boolean NOT NULL,
    verification text NOT NULL,
    community_id uuid REFERENCES groups,
    created_by text NOT NULL,
    response_count bigint NOT NULL DEFAULT 0,
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (created_by, request_id)
);
CREATE TABLE poll_responses (
    poll_id uuid NOT NULL REFERENCES polls,
    citizen text NOT NULL,
    district_code text NOT NULL,
    age_band text NOT NULL,
    answers jsonb NOT NULL,
    revision integer NOT NULL DEFAULT 1,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (poll_id, citizen)
);
CREATE TABLE poll_counts (
    poll_id uuid NOT NULL,
    question integer NOT NULL,
    option integer NOT NULL,
    district_code text NOT NULL,
    age_band text NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    points bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (poll_id, question, option, district_code, age_band)
);
CREATE TABLE poll_texts (
    content_id text PRIMARY KEY,
    poll_id uuid NOT NULL,
    question integer NOT NULL,
    shown_text text NOT NULL DEFAULT '',
    status text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX poll_texts_shown ON poll_texts (poll_id, question, at DESC) WHERE status = 'published';

-- Opinion by district: the stream job's counts and terms (kept by the worker; GetOpinionStats reads them).
CREATE TABLE opinion_stats (
    window_kind text NOT NULL,                  -- hour | day | week
    window_start timestamptz NOT NULL,
    district_code text NOT NULL,
    category text NOT NULL,
    opinions bigint NOT NULL DEFAULT 0,
    complaints bigint NOT NULL DEFAULT 0,
    proposals bigint NOT NULL DEFAULT 0,
    supports bigint NOT NULL DEFAULT 0,
    poll_responses bigint NOT NULL DEFAULT 0,
    comments bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_kind, window_start, district_code, category)
);
CREATE TABLE opinion_terms (
    window_kind text NOT NULL,
    window_start timestamptz NOT NULL,
    district_code text NOT NULL,
    term text NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (window_kind, window_start, district_code, term)
);
-- Intake submissions waiting for moderation to publish their text before its terms count.
CREATE TABLE pending_texts (
    content_id text PRIMARY KEY,
    district_code text NOT NULL,
    at timestamptz NOT NULL
);

-- Moderators told that something waits: each waiting content is notified once.
CREATE TABLE waiting_notices (
    content_id text PRIMARY KEY,
    reason text NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    notified_at timestamptz
);
CREATE INDEX waiting_notices_due ON waiting_notices (since) WHERE notified_at IS NULL;
