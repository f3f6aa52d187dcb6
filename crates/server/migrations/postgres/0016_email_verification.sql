-- E-mail verification (issue 16). An account's address counts for invitations only once its
-- owner has opened a one-time link sent to it: `email_verified_at` is when, NULL until then.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- Existing databases: administrators are trusted with their address (they could verify anyone
-- anyway); every other existing account starts unverified, keeps signing in, and is shown a
-- banner with "Resend the link" until it verifies. Operators who vouch for their accounts can
-- run `convene admin verify <account>` (or this UPDATE without the role filter).
UPDATE users SET email_verified_at = updated_at WHERE role = 'admin';

-- One-time links. The address the link was sent to is kept: opening a link for an address
-- the account no longer has verifies nothing.
CREATE TABLE email_verifications (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX email_verifications_user ON email_verifications(user_id);
