-- Acceptance without the database (reception.py): a message repeated after midnight gets a second tracking id for
-- the submission already stored; both find it. Rows are only ever added.
CREATE TABLE tracking_aliases (
    alias       text        PRIMARY KEY,
    tracking_id text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
