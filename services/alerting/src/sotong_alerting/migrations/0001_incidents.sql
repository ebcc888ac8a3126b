-- Incidents: the append-only audited log (the truth), a projection for listing, alerts, stage-0 pages and
-- their escalation timers, requested dispatches, delivery counts and citizens' reports and feedback.

CREATE TABLE incidents (
    incident_id text PRIMARY KEY,
    hazard text NOT NULL,
    area_codes text[] NOT NULL DEFAULT '{}',
    stage text NOT NULL,
    summary text NOT NULL DEFAULT '',
    source text NOT NULL,
    reported_at timestamptz NOT NULL,
    reported_by text NOT NULL,
    -- A client's retry key (ReportIncident.request_id, an upstream CAP identifier): one incident per key.
    request_key text UNIQUE,
    -- Last citizens' report grouped into it: the grouping window is counted from here.
    last_report_at timestamptz,
    sequence bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL
);
CREATE INDEX incidents_open ON incidents (hazard, stage) WHERE stage NOT IN ('all_clear', 'cancelled');
CREATE INDEX incidents_recent ON incidents (reported_at DESC);

CREATE TABLE incident_log (
    incident_id text NOT NULL REFERENCES incidents (incident_id),
    sequence bigint NOT NULL,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    actor text NOT NULL,
    occurred_at timestamptz NOT NULL,
    stage text NOT NULL,
    -- True for lifecycle events replayed into the Incident aggregate; false for audit entries.
    lifecycle boolean NOT NULL,
    payload jsonb NOT NULL,
    PRIMARY KEY (incident_id, sequence)
);

-- The log is an audit trail: nothing may change or remove an entry once written.
CREATE FUNCTION incident_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incident_log is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER incident_log_append_only BEFORE UPDATE OR DELETE ON incident_log
    FOR EACH ROW EXECUTE FUNCTION incident_log_is_append_only();

CREATE TABLE alerts (
    identifier text PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (incident_id),
    purpose text NOT NULL,
    state text NOT NULL,
    msg_type text NOT NULL,
    status text NOT NULL,
    cap_xml text NOT NULL,
    short_texts jsonb NOT NULL DEFAULT '{}',
    area_codes text[] NOT NULL DEFAULT '{}',
    channels integer[] NOT NULL DEFAULT '{}',
    references_identifier text,
    drafted_by text NOT NULL,
    drafted_at timestamptz NOT NULL,
    approved_by text,
    approved_at timestamptz,
    issued_by text,
    issued_at timestamptz
);
CREATE INDEX alerts_incident ON alerts (incident_id, drafted_at);
CREATE INDEX alerts_issued ON alerts (issued_at) WHERE issued_at IS NOT NULL;

-- An approved alert never changes: only its issue columns may be filled in afterwards.
CREATE FUNCTION approved_alert_is_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.approved_at IS NOT NULL AND (NEW.cap_xml IS DISTINCT FROM OLD.cap_xml
            OR NEW.short_texts IS DISTINCT FROM OLD.short_texts OR NEW.approved_by IS DISTINCT FROM OLD.approved_by) THEN
        RAISE EXCEPTION 'alert % is approved and never changes', OLD.identifier;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER approved_alert_frozen BEFORE UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION approved_alert_is_frozen();

-- Stage-0 paging: the escalation timer of each incident survives restarts because its due time is here.
CREATE TABLE pages (
    incident_id text PRIMARY KEY REFERENCES incidents (incident_id),
    level integer NOT NULL,
    paged_at timestamptz NOT NULL,
    next_due_at timestamptz,
    acknowledged_by text,
    acknowledged_at timestamptz
);
CREATE INDEX pages_due ON pages (next_due_at) WHERE acknowledged_at IS NULL AND next_due_at IS NOT NULL;

-- Every DispatchRequested ever queued: the primary key makes a retried request a no-op.
CREATE TABLE dispatches (
    dispatch_id text PRIMARY KEY,
    incident_id text NOT NULL,
    message_id text NOT NULL,
    channel integer NOT NULL,
    purpose text NOT NULL,
    requested_at timestamptz NOT NULL
);
CREATE INDEX dispatches_incident ON dispatches (incident_id);

CREATE TABLE deliveries (
    incident_id text NOT NULL,
    channel integer NOT NULL,
    delivered bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    dead_lettered bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (incident_id, channel)
);

-- Citizens' disaster reports grouped into candidate incidents.
CREATE TABLE citizen_reports (
    submission_id text PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (incident_id),
    tracking_id text NOT NULL,
    hazard text NOT NULL,
    district_code text NOT NULL,
    received_at timestamptz NOT NULL
);

-- Submissions received in an incident's districts after its second message: shown once moderation publishes.
CREATE TABLE feedback (
    submission_id text PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (incident_id),
    tracking_id text NOT NULL,
    text text NOT NULL,
    received_at timestamptz NOT NULL,
    shown_at timestamptz
);

-- Moderation outcomes that may arrive before the submission they judge.
CREATE TABLE moderation_outcomes (
    submission_id text PRIMARY KEY,
    published boolean NOT NULL,
    masked_text text NOT NULL DEFAULT '',
    decided_at timestamptz NOT NULL
);
