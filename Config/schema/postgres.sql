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
