-- Reference order database for escalator (SQLite). escalator only reads it.
-- Timestamps are ISO 8601 text in UTC (what datetime('now') writes) or Unix seconds.

CREATE TABLE IF NOT EXISTS staff (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    supervisor  TEXT REFERENCES staff(id)
);

CREATE TABLE IF NOT EXISTS orders (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL DEFAULT 'custom-order',
    status      TEXT NOT NULL DEFAULT 'open',
    owner       TEXT REFERENCES staff(id),      -- the Responsible person
    sales_rep   TEXT REFERENCES staff(id),      -- an extra column, read as an attribute
    opened_at   TEXT NOT NULL,
    promised_at TEXT,
    closed_at   TEXT,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS orders_updated_at ON orders (updated_at);

CREATE TRIGGER IF NOT EXISTS orders_touch AFTER UPDATE ON orders
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE orders SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TABLE IF NOT EXISTS order_activity (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders(id),
    kind        TEXT NOT NULL,      -- customer_message, customer_update, internal_update, status_change, promise,
                                    -- delivery, assignment, escalation_request, obligation, note
    at          TEXT NOT NULL,
    actor       TEXT,
    text        TEXT,
    tag         TEXT,
    status      TEXT,               -- status_change: the new status
    person      TEXT,               -- assignment: the new owner
    due         TEXT,               -- promise: when it is due
    quantity    INTEGER,            -- delivery
    ref         TEXT,               -- the promise or obligation this keeps or resolves
    kept_by     TEXT                -- promise: kept by the next activity of this kind
);
CREATE INDEX IF NOT EXISTS order_activity_order ON order_activity (order_id, at);
CREATE INDEX IF NOT EXISTS order_activity_at ON order_activity (at);
