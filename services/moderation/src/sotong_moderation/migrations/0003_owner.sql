-- Who may appeal a decision about a piece of content: its author's subject id (a signed-in citizen), or ''
-- when no citizen may (channels without a signed-in one). Operators may always appeal.
ALTER TABLE contents ADD COLUMN owner text NOT NULL DEFAULT '';
