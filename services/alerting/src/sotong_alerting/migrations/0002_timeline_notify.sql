-- WatchIncident streams wake on a notification instead of polling (sotong_alerting.watch): every entry appended
-- to an incident's log notifies `alerting_timeline` with the incident id, whoever appends it (api or worker).
-- NOTIFY is transactional: the watcher hears it after the commit, and duplicates within one transaction fold.

CREATE FUNCTION incident_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('alerting_timeline', NEW.incident_id);
    RETURN NULL;
END $$;

CREATE TRIGGER incident_log_notify AFTER INSERT ON incident_log
    FOR EACH ROW EXECUTE FUNCTION incident_log_notify();
