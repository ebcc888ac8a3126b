-- What the public may read of a submission: its text exactly as moderation published it (personal data masked by
-- moderation's pipeline, from moderation.decision-made.v1), NULL until moderation decides to publish it and again
-- once it is removed. The original `text` is read only by its author and by operators.
-- `author` is the subject of the signed-in citizen who submitted it (NULL for channels without one).
ALTER TABLE submissions
    ADD COLUMN public_text text,
    ADD COLUMN author text;
