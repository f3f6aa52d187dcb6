-- Client-side ("local") recordings being uploaded: a participant records the meeting in the
-- browser and sends the file in chunks (resumable). The bytes so far live under
-- <data-dir>/recording-uploads/<id>.part; the row becomes a recording only when complete.
CREATE TABLE recording_uploads (
    id           TEXT PRIMARY KEY,
    meeting_id   BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    -- The account recording (and uploading); only it may append, complete or abort.
    user_id      TEXT NOT NULL,
    content_type TEXT NOT NULL,
    -- Declared total size; NULL until the client knows it (it records while uploading starts).
    size_bytes   BIGINT,
    -- Bytes received so far: the offset the next chunk must start at.
    received     BIGINT NOT NULL,
    -- When the recording started (the upload is created as recording begins).
    started_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    -- Abandoned uploads are deleted after this (pushed back by every chunk).
    expires_at   BIGINT NOT NULL
);
CREATE INDEX recording_uploads_expiry ON recording_uploads(expires_at);
