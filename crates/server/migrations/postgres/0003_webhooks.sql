-- Webhooks: endpoints that receive signed JSON events, and the delivery log / outbox.
-- Timestamps are Unix milliseconds; booleans 0/1.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- 'user': only events about the owner's meetings; 'organization': every event (admins).
    scope       TEXT NOT NULL DEFAULT 'user',
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    -- JSON list of event types; [] means every type except chat.message.
    events      TEXT NOT NULL DEFAULT '[]',
    active      BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX webhooks_owner ON webhooks(owner_id);
CREATE INDEX webhooks_active ON webhooks(active, scope);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    -- The exact body that is POSTed (and signed).
    payload         TEXT NOT NULL,
    -- 'pending', 'delivered' or 'failed'.
    status          TEXT NOT NULL DEFAULT 'pending',
    -- Attempts started so far.
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- Lease of the worker sending the current attempt; expired leases are picked up again.
    locked_until    BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries(webhook_id, created_at);

-- One row per finished attempt, so the log shows what each try got back.
CREATE TABLE webhook_attempts (
    delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt      BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    status       BIGINT,
    error        TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
