-- Live access that ends with the account (issue 16): disabling, deleting or changing the
-- password of an account voids the join tickets issued and the meeting seats taken before
-- this moment (Unix ms). 0 for existing accounts: nothing they hold now is voided.
ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;
