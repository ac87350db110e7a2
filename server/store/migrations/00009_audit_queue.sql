-- Audit entries of committed PostgreSQL transactions wait here, briefly, for
-- their place in the hash chain: a write queues its entries without a lock,
-- and after its commit a link moves every committed entry into audit_log
-- under the chain head's lock, so concurrent writes do not wait for each
-- other's commits. An entry's order is its transaction's time, then batch
-- (the transaction's random id), then its place in the transaction. SQLite's
-- one writer appends to the chain directly and leaves this table empty.

-- +goose Up
CREATE TABLE audit_queue (
    batch          TEXT NOT NULL,
    pos            INTEGER NOT NULL,
    at             BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT NOT NULL,
    before         TEXT NOT NULL,
    after          TEXT NOT NULL,
    ip             TEXT NOT NULL,
    workstation_id TEXT NOT NULL,
    PRIMARY KEY (batch, pos)
);
CREATE INDEX audit_queue_order ON audit_queue (at, batch, pos);

-- +goose Down
DROP TABLE audit_queue;
