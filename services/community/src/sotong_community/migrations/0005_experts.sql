-- Community, part 2: the SNS expert network (task 6). Experts' names and mail addresses are encrypted at rest.
CREATE TABLE experts (
    expert_id uuid PRIMARY KEY,
    personal bytea NOT NULL,                    -- AES-GCM of {"name", "email"} (SOTONG_COMMUNITY_CONTACT_KEYS)
    organisation text NOT NULL DEFAULT '',
    country text NOT NULL,
    languages text[] NOT NULL,
    fields text[] NOT NULL,
    consent_purpose text NOT NULL,
    consent_expires_at timestamptz NOT NULL,
    created_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (created_by, request_id)
);
CREATE INDEX experts_fields ON experts USING gin (fields);
CREATE INDEX experts_languages ON experts USING gin (languages);

CREATE TABLE panels (
    panel_id uuid PRIMARY KEY,
    title text NOT NULL,
    field text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (created_by, request_id)
);
CREATE TABLE panel_members (
    panel_id uuid NOT NULL REFERENCES panels,
    expert_id uuid NOT NULL REFERENCES experts,
    PRIMARY KEY (panel_id, expert_id)
);
CREATE TABLE panel_invitations (
    invitation_id uuid PRIMARY KEY,
    panel_id uuid NOT NULL REFERENCES panels,
    title text NOT NULL,
    starts_at timestamptz NOT NULL,
    created_by text NOT NULL,
    request_id text NOT NULL,
    UNIQUE (created_by, request_id)
);
CREATE TABLE panel_invitees (
    invitation_id uuid NOT NULL REFERENCES panel_invitations,
    expert_id uuid NOT NULL REFERENCES experts,
    rsvp text NOT NULL DEFAULT '',
    PRIMARY KEY (invitation_id, expert_id)
);
