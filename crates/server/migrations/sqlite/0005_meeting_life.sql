-- Meeting life: chat (with private messages and shared files), removals.
CREATE TABLE chat_messages (
    id               TEXT PRIMARY KEY,
    meeting_id       INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    from_participant TEXT NOT NULL,
    from_user_id     TEXT,
    from_name        TEXT NOT NULL,
    -- NULL for everyone; else the one recipient of a private message.
    to_participant   TEXT,
    to_user_id       TEXT,
    to_name          TEXT,
    text             TEXT NOT NULL,
    file_id          TEXT,
    sent_at          INTEGER NOT NULL
);
CREATE INDEX chat_messages_meeting ON chat_messages(meeting_id, sent_at);

CREATE TABLE meeting_files (
    id               TEXT PRIMARY KEY,
    meeting_id       INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    uploader_participant TEXT NOT NULL,
    uploader_user_id TEXT,
    name             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    content_type     TEXT NOT NULL,
    sha256           TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX meeting_files_meeting ON meeting_files(meeting_id);

-- People removed from a meeting: `user:<id>` for accounts, `client:<id>` for guests' devices.
CREATE TABLE meeting_bans (
    meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (meeting_id, subject)
);
