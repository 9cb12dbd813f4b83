-- uma-cedar schema: the notification outbox. An event row is written in the same transaction as the change
-- that raises it (so it exists exactly when the change committed); the delivery worker then fans it out to one
-- delivery row per configured webhook and works those off with retries. Delivered and dead rows are purged
-- after a while.

CREATE TABLE notify_events (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    time        INTEGER NOT NULL,
    data        TEXT NOT NULL,
    -- 0 until the worker has written the event's delivery rows.
    fanned_out  INTEGER NOT NULL DEFAULT 0 CHECK (fanned_out IN (0, 1))
);
CREATE INDEX notify_events_waiting ON notify_events (fanned_out, time);

CREATE TABLE notify_deliveries (
    event_id        TEXT NOT NULL REFERENCES notify_events (id) ON DELETE CASCADE,
    webhook         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (event_id, webhook)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (state, next_attempt_at);
