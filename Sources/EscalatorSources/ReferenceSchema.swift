/// The reference order schema, as shipped in `Config/schema/` (a test keeps the two identical).
public enum ReferenceSchema {
    /// A `source` section that reads this schema. `connection` holds the driver's own keys ("driver: sqlite",
    /// "path: …", "poll_every: 1m"), one per entry; `withDirectory` also reads people from the staff table.
    /// With SQLite it declares `timestamps: utc`, which is how the schema's defaults and triggers write them.
    public static func sourceSection(_ connection: [String], withDirectory: Bool = false) -> String {
        let form = connection.contains("driver: sqlite") ? ["  timestamps: utc"] : []
        var lines = ["source:"] + connection.map { "  " + $0 } + form + [
            "  cases:",
            "    query: SELECT * FROM orders",
            "    attributes: [sales_rep]",
            "    changed_at: updated_at",
            "  activity:",
            "    query: SELECT * FROM order_activity",
            "    columns: { case: order_id }",
        ]
        if withDirectory { lines += ["  directory:", "    query: SELECT id, name, email, supervisor FROM staff"] }
        return lines.joined(separator: "\n") + "\n"
    }

    public static let sqlite = #"""
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

"""#

    public static let postgres = #"""
-- Reference order database for escalator (PostgreSQL). escalator only reads it: see docs/sources.md for the
-- read-only role and its grants.

CREATE TABLE IF NOT EXISTS staff (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    supervisor  text REFERENCES staff(id)
);

CREATE TABLE IF NOT EXISTS orders (
    id          text PRIMARY KEY,
    kind        text NOT NULL DEFAULT 'custom-order',
    status      text NOT NULL DEFAULT 'open',
    owner       text REFERENCES staff(id),
    sales_rep   text REFERENCES staff(id),
    opened_at   timestamptz NOT NULL,
    promised_at timestamptz,
    closed_at   timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS orders_updated_at ON orders (updated_at);

CREATE OR REPLACE FUNCTION orders_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS orders_touch ON orders;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION orders_touch();

CREATE TABLE IF NOT EXISTS order_activity (
    id          text PRIMARY KEY,
    order_id    text NOT NULL REFERENCES orders(id),
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    actor       text,
    text        text,
    tag         text,
    status      text,
    person      text,
    due         timestamptz,
    quantity    integer,
    ref         text,
    kept_by     text
);
CREATE INDEX IF NOT EXISTS order_activity_order ON order_activity (order_id, at);
CREATE INDEX IF NOT EXISTS order_activity_at ON order_activity (at);

"""#
}
