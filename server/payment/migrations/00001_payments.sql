-- Tables of the payment module, kept apart from the main store's tables
-- (prefix payment_, own goose version table payment_goose_version).
-- Times were Unix milliseconds (UTC) so SQLite and PostgreSQL agree exactly;
-- 00003 made them microseconds.

-- +goose Up
CREATE TABLE payment_orders (
    out_trade_no   TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    provider       TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL CHECK (amount_fen > 0),
    description    TEXT NOT NULL,
    code_url       TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('open', 'paid', 'closed', 'refunding', 'refunded')),
    transaction_id TEXT UNIQUE,
    paid_at        BIGINT,
    closed_at      BIGINT
);
CREATE INDEX payment_orders_by_application ON payment_orders (application_id, created_at);
-- One live QR per application: a new one is made only after the last is closed.
CREATE UNIQUE INDEX payment_orders_one_open ON payment_orders (application_id) WHERE state = 'open';
CREATE INDEX payment_orders_open_by_expiry ON payment_orders (expires_at) WHERE state = 'open';

-- Every notification applied, by WeChat's notification id: a replay is a no-op.
CREATE TABLE payment_notifications (
    notification_id TEXT PRIMARY KEY,
    event_type      TEXT NOT NULL,
    reference       TEXT NOT NULL,
    received_at     BIGINT NOT NULL
);

CREATE TABLE payment_refunds (
    out_refund_no  TEXT PRIMARY KEY,
    out_trade_no   TEXT NOT NULL REFERENCES payment_orders (out_trade_no),
    application_id TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL CHECK (amount_fen > 0),
    reason         TEXT NOT NULL,
    requested_by   TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('processing', 'success', 'failed')),
    refund_id      TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    done_at        BIGINT
);
-- At most one live refund per order (a failed one may be retried).
CREATE UNIQUE INDEX payment_refunds_one_per_order ON payment_refunds (out_trade_no) WHERE state <> 'failed';

-- +goose Down
DROP TABLE payment_refunds;
DROP TABLE payment_notifications;
DROP TABLE payment_orders;
