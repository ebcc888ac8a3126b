-- Supports not yet announced to the opinion statistics. The ledger adds each batch's net change of supports here, in
-- the statement that moves the count, and announces the sum (one community.participation-recorded.v1 fact) at
-- most once per interval, or when the hour changes, instead of one fact per batch; `since` is the time of the
-- oldest support not yet announced, and every support in the sum falls in its hour (so in its day and week too).
-- Moving the sum to the outbox and zeroing it is one transaction: nothing is announced twice or lost.
ALTER TABLE proposals
    ADD COLUMN supports_unannounced bigint NOT NULL DEFAULT 0,
    ADD COLUMN supports_unannounced_since timestamptz;
CREATE INDEX proposals_unannounced ON proposals (supports_unannounced_since) WHERE supports_unannounced_since IS NOT NULL;
