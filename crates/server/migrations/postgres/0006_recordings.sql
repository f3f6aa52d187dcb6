-- Recordings: server-side (composed from the SFU's raw tracks) and client-side (uploaded).
CREATE TABLE recordings (
    id           TEXT PRIMARY KEY,
    meeting_id   BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    -- The meeting's host when the recording started (may delete it, change who sees it).
    host_id      TEXT NOT NULL,
    started_by   TEXT,
    -- `server` or `client`.
    kind         TEXT NOT NULL,
    -- `recording`, `processing`, `ready`, `failed`; `uploading` for client recordings.
    status       TEXT NOT NULL,
    failure      TEXT,
    -- Who may watch: `host`, `participants` or `organisation`.
    access       TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    stopped_at   BIGINT,
    duration_ms  BIGINT,
    size_bytes   BIGINT,
    media_key    TEXT,
    content_type TEXT NOT NULL,
    ready_at     BIGINT,
    -- Deleted automatically after this time (retention); NULL keeps it.
    expires_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX recordings_meeting ON recordings(meeting_id);
CREATE INDEX recordings_expiry ON recordings(expires_at);
