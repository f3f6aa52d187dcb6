-- Polls run in a live meeting (issue 21), kept with the meeting so the people who attended
-- can read them afterwards. Counts per option are kept for every poll; who chose what only
-- for polls that are not anonymous (an anonymous poll's ballots stay in the live room's
-- memory, never here).
CREATE TABLE polls (
    id           TEXT PRIMARY KEY,
    meeting_id   INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    question     TEXT NOT NULL,
    multiple     INTEGER NOT NULL,
    anonymous    INTEGER NOT NULL,
    -- 'open' or 'ended'
    status       TEXT NOT NULL,
    shared       INTEGER NOT NULL DEFAULT 0,
    -- how many people voted (an anonymous poll keeps no ballots to count)
    voters       INTEGER NOT NULL DEFAULT 0,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    ended_at     INTEGER
);
CREATE INDEX polls_meeting ON polls(meeting_id, created_at);

CREATE TABLE poll_options (
    poll_id  TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    text     TEXT NOT NULL,
    votes    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (poll_id, idx)
);

CREATE TABLE poll_votes (
    poll_id      TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    participant  TEXT NOT NULL,
    user_id      TEXT,
    voter_name   TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    PRIMARY KEY (poll_id, participant, idx)
);
