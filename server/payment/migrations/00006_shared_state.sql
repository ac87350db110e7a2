-- State every replica of the service shares, once kept in each process's
-- memory: the windows of collapsed refusal audit rows (see refusals.go),
-- and when Status last asked the provider about an open order.

-- +goose Up
CREATE TABLE payment_refusal_windows (
    kind         TEXT NOT NULL,
    provider     TEXT NOT NULL,
    source       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    notification TEXT NOT NULL,
    window_end   BIGINT NOT NULL,
    ip           TEXT NOT NULL,
    suppressed   BIGINT NOT NULL,
    prior        BIGINT NOT NULL,
    written      INTEGER NOT NULL,
    PRIMARY KEY (kind, provider, source, reason, notification)
);
CREATE INDEX payment_refusal_windows_end ON payment_refusal_windows (window_end);
ALTER TABLE payment_orders ADD COLUMN status_queried_at BIGINT;

-- +goose Down
ALTER TABLE payment_orders DROP COLUMN status_queried_at;
DROP TABLE payment_refusal_windows;
