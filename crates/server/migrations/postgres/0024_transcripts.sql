-- Live captions' transcript (docs/architecture.md "Live captions"): one row per final caption,
-- written as it is recognised, so a transcript survives a crash and late captions (after the
-- meeting ended) still land. Times are Unix ms: a recording's part is the lines within its
-- start and stop.
CREATE TABLE transcript_lines (
    id             TEXT PRIMARY KEY,
    meeting_id     BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    participant_id TEXT NOT NULL,
    user_id        TEXT,
    speaker        TEXT NOT NULL,
    start_at       BIGINT NOT NULL,
    end_at         BIGINT NOT NULL,
    text           TEXT NOT NULL
);
CREATE INDEX transcript_lines_meeting ON transcript_lines(meeting_id, start_at);
