-- Near-duplicate candidates are first reports of one category near a point: a band of latitude narrows them
-- to a few rows instead of every report of the category in the time window.
CREATE INDEX submissions_first_reports_near ON submissions (category, lat, lng)
    WHERE duplicate_candidate_of IS NULL AND duplicate_of IS NULL;
