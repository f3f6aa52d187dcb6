-- Cluster mode: the seats of live meetings, so that when a node dies the meeting can be
-- rebuilt on another node with the same participants and roles (resume by token).
CREATE TABLE live_seats (
    resume_hash    TEXT PRIMARY KEY,
    meeting_id     BIGINT NOT NULL,
    participant_id TEXT NOT NULL,
    attendance_id  TEXT NOT NULL,
    client_key     TEXT,
    participant    TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX live_seats_meeting ON live_seats (meeting_id);
