-- Community, part 2: opinion-leader briefings (task 7). Leaders' names and contacts are encrypted at rest.
CREATE TABLE leaders (
    leader_id uuid PRIMARY KEY,
    personal bytea NOT NULL,                    -- AES-GCM of {"name", "contact"} (SOTONG_COMMUNITY_CONTACT_KEYS)
    organisation text NOT NULL DEFAULT '',
    field text NOT NULL DEFAULT '',
    district_code text NOT NULL DEFAULT '',
    channel text NOT NULL,                      -- sms | kakao | mail
    consent_purpose text NOT NULL,
    consent_expires_at timestamptz NOT NULL,
    created_by text NOT NULL,
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (created_by, request_id)
);

CREATE TABLE briefings (
    briefing_id uuid PRIMARY KEY,
    title text NOT NULL,
    body text NOT NULL,
    embargo_until timestamptz,
    status text NOT NULL,                       -- draft | approved
    drafted_by text NOT NULL,
    approved_by text NOT NULL DEFAULT '',
    approved_at timestamptz,
    request_id text NOT NULL,
    UNIQUE (drafted_by, request_id)
);

CREATE TABLE briefing_recipients (
    briefing_id uuid NOT NULL REFERENCES briefings,
    leader_id uuid NOT NULL REFERENCES leaders,
    delivery text NOT NULL DEFAULT '',          -- '' | delivered | failed | dead_lettered | consent_expired
    delivered_at timestamptz,
    rsvp text NOT NULL DEFAULT '',
    reply_digest text NOT NULL DEFAULT '',
    reply_tracking_id text NOT NULL DEFAULT '',
    PRIMARY KEY (briefing_id, leader_id)
);
