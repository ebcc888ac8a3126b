-- The directory's named lists (directory.py): official SNS accounts, the press list, drill audiences.
-- source says who maintains an entry: 'config' (the directory file), 'provider' (imported from a provider's
-- registry at start) or the directory-feed topic that sent it; each source only ever changes its own entries.
CREATE TABLE directory_entries (
    list           text        NOT NULL,
    target         text        NOT NULL,
    active         boolean     NOT NULL DEFAULT true,
    district_code  text        NOT NULL DEFAULT '',
    language       text        NOT NULL DEFAULT '',
    display_name   text        NOT NULL DEFAULT '',
    source         text        NOT NULL,
    version        bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list, target)
);
CREATE INDEX directory_entries_active ON directory_entries (list, target) WHERE active;
