-- Accounts, sessions, meetings and attendance. Timestamps are Unix milliseconds; booleans 0/1.
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    username           TEXT NOT NULL UNIQUE,
    email              TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    role               TEXT NOT NULL DEFAULT 'user',
    disabled           BIGINT NOT NULL DEFAULT 0,
    default_background TEXT NOT NULL DEFAULT 'none',
    personal_meeting_id BIGINT NOT NULL UNIQUE,
    avatar             BYTEA,
    avatar_etag        TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    revoked_at  BIGINT,
    user_agent  TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE meetings (
    id          BIGINT PRIMARY KEY,
    host_id     TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    timezone    TEXT NOT NULL,
    recurrence  TEXT,
    passcode    TEXT NOT NULL,
    settings    TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'scheduled',
    sequence    BIGINT NOT NULL DEFAULT 0,
    started_at  BIGINT,
    ended_at    BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX meetings_host ON meetings(host_id, status);

CREATE TABLE meeting_cohosts (
    meeting_id  BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);
CREATE INDEX meeting_cohosts_user ON meeting_cohosts(user_id);

CREATE TABLE meeting_invitees (
    meeting_id  BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    user_id     TEXT,
    PRIMARY KEY (meeting_id, email)
);
CREATE INDEX meeting_invitees_user ON meeting_invitees(user_id);
CREATE INDEX meeting_invitees_email ON meeting_invitees(email);

CREATE TABLE attendance (
    id           TEXT PRIMARY KEY,
    meeting_id   BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    user_id      TEXT,
    display_name TEXT NOT NULL,
    role         TEXT NOT NULL,
    joined_at    BIGINT NOT NULL,
    left_at      BIGINT
);
CREATE INDEX attendance_meeting ON attendance(meeting_id);
CREATE INDEX attendance_user ON attendance(user_id);
