-- State every replica of the service shares, once kept in each process's
-- memory: rate-limit buckets, idempotency keys with their answers, and the
-- windows of collapsed audit rows. Times are Unix microseconds of the
-- service's clock (see docs/SECURITY.md, "State shared by the replicas").

-- +goose Up
-- A token bucket per (limiter, key): tokens left at "at"; full_at is when
-- it is full again, and so the same as no row (the cleanup deletes it).
-- granted is the last take's answer (read back by the statement that took).
CREATE TABLE rate_buckets (
    limiter    TEXT NOT NULL,
    bucket_key TEXT NOT NULL,
    tokens     DOUBLE PRECISION NOT NULL,
    at         BIGINT NOT NULL,
    full_at    BIGINT NOT NULL,
    granted    INTEGER NOT NULL,
    PRIMARY KEY (limiter, bucket_key)
);
CREATE INDEX rate_buckets_full ON rate_buckets (full_at);

-- An idempotent request: running (finished_at NULL, owner the attempt
-- running it) or answered (status, headers as JSON, body).
CREATE TABLE idempotency_keys (
    user_id      TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    request_hash BYTEA NOT NULL,
    owner        TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT,
    status       INTEGER NOT NULL DEFAULT 0,
    header       BYTEA,
    body         BYTEA,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_user ON idempotency_keys (user_id, seq);
CREATE INDEX idempotency_keys_started ON idempotency_keys (started_at);

-- A collapsed audit key (action, target, source, reason): its last row
-- opened a window until window_end; suppressed events since are counted,
-- to be written with the key's next row. The change and details are those
-- of the last row. A key with an empty action counts the events of
-- sources beyond the tracked ones, per overflow action (reason).
CREATE TABLE audit_collapse (
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    window_end  BIGINT NOT NULL,
    window_us   BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    ip          TEXT NOT NULL,
    workstation TEXT NOT NULL,
    after       TEXT NOT NULL,
    suppressed  BIGINT NOT NULL,
    prior       BIGINT NOT NULL,
    written     INTEGER NOT NULL,
    PRIMARY KEY (action, target, source, reason)
);
CREATE INDEX audit_collapse_end ON audit_collapse (window_end);

-- +goose Down
DROP TABLE audit_collapse;
DROP TABLE idempotency_keys;
DROP TABLE rate_buckets;
