-- What the engine has finished, so a retry, a crash-and-redeliver or a DLQ replay never sends twice.
-- One row per (dispatch, target) for targeted audiences; outcome 'delivered' or 'failed' (permanent refusal).
CREATE TABLE deliveries (
    dispatch_id     text        NOT NULL,
    target          text        NOT NULL,
    outcome         text        NOT NULL,
    provider        text        NOT NULL,
    attempts        integer     NOT NULL,
    idempotency_key text        NOT NULL,
    error           text        NOT NULL DEFAULT '',
    finished_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dispatch_id, target)
);

-- Fan-out checkpoints: one row per completed batch of a segment audience (batch_index = start / batch size).
CREATE TABLE fanout_batches (
    dispatch_id  text        NOT NULL,
    batch_index  integer     NOT NULL,
    delivered    integer     NOT NULL,
    failed       integer     NOT NULL,
    provider     text        NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dispatch_id, batch_index)
);

-- Provider-side ids the engine must remember to thread later messages (the portal's refers_to, chat rooms).
CREATE TABLE provider_refs (
    thread_id  text NOT NULL,
    kind         text NOT NULL,
    ref          text NOT NULL,
    PRIMARY KEY (thread_id, kind)
);
