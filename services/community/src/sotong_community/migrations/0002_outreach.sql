-- Community, part 2: the city's outreach (issue 12). The official SNS account registry, its audit, the staff's
-- social-media guidelines and training.

-- Official SNS accounts. One account per (platform, handle, case-insensitive); the publishing target (the id the
-- SNS provider posts to) is unique among live accounts, as it is one entry of the engine's list sns:official.
CREATE TABLE sns_accounts (
    account_id uuid PRIMARY KEY,
    platform text NOT NULL,
    handle text NOT NULL,
    handle_key text NOT NULL,
    url text NOT NULL,
    department text NOT NULL,
    department_name text NOT NULL,
    managers text[] NOT NULL DEFAULT '{}',
    purpose text NOT NULL DEFAULT '',
    audience text NOT NULL DEFAULT '',
    status text NOT NULL,                       -- active | dormant | merged | closed
    publishing_target text NOT NULL,
    district_code text NOT NULL DEFAULT '',
    language text NOT NULL DEFAULT 'ko',
    merged_into uuid REFERENCES sns_accounts,
    version bigint NOT NULL DEFAULT 1,
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_post_at timestamptz,
    registered_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (platform, handle_key),
    UNIQUE (registered_by, request_id)
);
CREATE UNIQUE INDEX sns_accounts_live_target ON sns_accounts (publishing_target) WHERE status IN ('active', 'dormant');
-- Versions of the entries fed to the publishing directory: one order across accounts, so an entry whose target
-- moved to another account is never older than the last change the engine applied.
CREATE SEQUENCE sns_directory_versions;
CREATE INDEX sns_accounts_department ON sns_accounts (department, platform);

-- Every change of an account, in order (GetAccount's history).
CREATE TABLE sns_account_history (
    account_id uuid NOT NULL REFERENCES sns_accounts,
    sequence bigint NOT NULL,
    change text NOT NULL,                       -- registered | updated | status_changed
    status text NOT NULL,
    fields text[] NOT NULL DEFAULT '{}',
    actor text NOT NULL,
    reason text NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, sequence)
);

-- The audit's runs: one row per Seoul month, replaced by each later run of that month.
CREATE TABLE sns_audits (
    month text PRIMARY KEY,                     -- YYYY-MM, Seoul time
    ran_at timestamptz NOT NULL,
    newly_dormant text[] NOT NULL,
    merge_candidates jsonb NOT NULL,
    counts jsonb NOT NULL,
    report_csv bytea NOT NULL,
    report_html bytea NOT NULL
);

-- Staff social-media guidelines: versions, the roster (subject ids and departments only), acknowledgements,
-- training sessions and attendance.
CREATE TABLE guidelines (
    version integer PRIMARY KEY,
    title text NOT NULL,
    body text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (published_by, request_id)
);
CREATE TABLE staff (
    staff text PRIMARY KEY,
    department text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_department ON staff (department);
CREATE TABLE guideline_acks (
    staff text NOT NULL REFERENCES staff,
    version integer NOT NULL REFERENCES guidelines,
    acknowledged_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (staff, version)
);
CREATE TABLE training_sessions (
    session_id uuid PRIMARY KEY,
    title text NOT NULL,
    starts_at timestamptz NOT NULL,
    venue text NOT NULL DEFAULT '',
    guidelines_version integer NOT NULL DEFAULT 0,
    created_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (created_by, request_id)
);
CREATE TABLE training_attendance (
    session_id uuid NOT NULL REFERENCES training_sessions,
    staff text NOT NULL REFERENCES staff,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, staff)
);
