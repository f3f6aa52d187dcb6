-- End-to-end encrypted meetings (docs/e2ee.md): each account's default for the meetings it
-- schedules. The meeting's own choice lives in meetings.settings (JSON) as `e2ee`.
ALTER TABLE users ADD COLUMN e2ee_default BIGINT NOT NULL DEFAULT 0;
