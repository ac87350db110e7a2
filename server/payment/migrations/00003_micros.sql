-- Times become Unix microseconds (UTC), the unit of every other table in the
-- database; they were milliseconds. The same statements run on SQLite and
-- PostgreSQL.

-- +goose Up
UPDATE payment_orders SET created_at = created_at * 1000, expires_at = expires_at * 1000,
    paid_at = paid_at * 1000, closed_at = closed_at * 1000;
UPDATE payment_notifications SET received_at = received_at * 1000;
UPDATE payment_refunds SET created_at = created_at * 1000, done_at = done_at * 1000;

-- +goose Down
UPDATE payment_orders SET created_at = created_at / 1000, expires_at = expires_at / 1000,
    paid_at = paid_at / 1000, closed_at = closed_at / 1000;
UPDATE payment_notifications SET received_at = received_at / 1000;
UPDATE payment_refunds SET created_at = created_at / 1000, done_at = done_at / 1000;
