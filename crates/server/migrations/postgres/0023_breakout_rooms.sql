-- Breakout rooms: which room each attendee was in, and when (one row per stay in a room).
-- attendance_id names the attendance row (written through the backlog, so no foreign key:
-- a stay may be recorded before its attendance row reaches the database).
CREATE TABLE breakout_attendance (
    id            TEXT PRIMARY KEY,
    attendance_id TEXT NOT NULL,
    meeting_id    BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    room          BIGINT NOT NULL,
    room_name     TEXT NOT NULL,
    entered_at    BIGINT NOT NULL,
    left_at       BIGINT
);
CREATE INDEX breakout_attendance_meeting ON breakout_attendance(meeting_id);
