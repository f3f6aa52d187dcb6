-- Who has voted in an anonymous poll, never what they chose: after a restart or a move to
-- another node (when the live room's memory of their choice is gone) the same person cannot
-- vote a second time. Voter: `user:<id>` for an account, else the participant id.
CREATE TABLE poll_anonymous_voters (
    poll_id  TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    voter    TEXT NOT NULL,
    PRIMARY KEY (poll_id, voter)
);
