-- E-invoices: one per paid application (its row is the request, retried in
-- place after a failure), and the confirmation that a posted key arrived
-- (asking for the invoice confirms it).

-- +goose Up
CREATE TABLE invoices (
    application_id TEXT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    state          TEXT NOT NULL CHECK (state IN ('requested', 'issued', 'failed')),
    title          TEXT NOT NULL,
    tax_id         TEXT NOT NULL,
    email          TEXT NOT NULL,
    phone          TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL CHECK (amount_fen > 0),
    attempts       INTEGER NOT NULL,
    number         TEXT UNIQUE,
    pdf            BYTEA,
    reason         TEXT NOT NULL DEFAULT '',
    requested_at   BIGINT NOT NULL,
    issued_at      BIGINT
);

CREATE TABLE key_receipts (
    application_id TEXT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    confirmed_at   BIGINT NOT NULL,
    via            TEXT NOT NULL
);

-- +goose Down
DROP TABLE key_receipts;
DROP TABLE invoices;
