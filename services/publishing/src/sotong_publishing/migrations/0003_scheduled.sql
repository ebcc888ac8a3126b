-- Dispatches that must not be delivered before a time (an embargoed briefing): kept here, their offsets
-- committed, and delivered by the scheduler when due. Deleted once delivered; a crash before the delete delivers
-- again through the same delivery record, so nothing is sent twice.
CREATE TABLE scheduled_dispatches (
    dispatch_id  text        NOT NULL,
    kind         text        NOT NULL,
    topic        text        NOT NULL,
    requester    text        NOT NULL,
    not_before   timestamptz NOT NULL,
    payload      bytea       NOT NULL,
    headers      jsonb       NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dispatch_id, kind)
);
CREATE INDEX scheduled_dispatches_due ON scheduled_dispatches (kind, not_before);
