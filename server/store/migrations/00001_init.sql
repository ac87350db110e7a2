-- One schema for SQLite and PostgreSQL. Times are BIGINT microseconds since
-- the Unix epoch (UTC) on both backends, so the Go code and the audit hash see
-- exactly the same values. Booleans are INTEGER 0/1. Bytes are BYTEA: on
-- SQLite that column has NUMERIC affinity, which leaves bound blobs as they
-- are (only text that looks like a number would be converted), so the Go
-- code always binds []byte to these columns.

-- +goose Up
CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    credit_code TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    role            TEXT NOT NULL CHECK (role IN ('clerk', 'reviewer', 'admin')),
    name            TEXT NOT NULL,
    mobile          TEXT UNIQUE,
    account         TEXT UNIQUE,
    password_hash   TEXT,
    organisation_id TEXT REFERENCES organisations (id),
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    CHECK (mobile IS NOT NULL OR account IS NOT NULL),
    CHECK (role <> 'clerk' OR organisation_id IS NOT NULL)
);

CREATE TABLE sms_codes (
    id         TEXT PRIMARY KEY,
    mobile     TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    ip         TEXT NOT NULL,
    tries      INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX sms_codes_mobile ON sms_codes (mobile, created_at);
CREATE INDEX sms_codes_ip ON sms_codes (ip, created_at);

CREATE TABLE auth_tokens (
    hash        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    user_id     TEXT NOT NULL REFERENCES users (id),
    family      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    replaced_by TEXT
);
CREATE INDEX auth_tokens_family ON auth_tokens (family);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);

CREATE TABLE certificates (
    serial          TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    not_before      BIGINT NOT NULL,
    not_after       BIGINT NOT NULL,
    key_type        TEXT NOT NULL CHECK (key_type IN ('rsa', 'ecdsa', 'sm2')),
    public_key      BYTEA NOT NULL,
    der             BYTEA NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX certificates_org ON certificates (organisation_id);

CREATE TABLE applications (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    created_by      TEXT NOT NULL REFERENCES users (id),
    cert_serial     TEXT NOT NULL REFERENCES certificates (serial),
    years           INTEGER NOT NULL,
    org_name        TEXT NOT NULL,
    credit_code     TEXT NOT NULL,
    form            TEXT NOT NULL,
    comment         TEXT NOT NULL DEFAULT '',
    review_reason   TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    payment         TEXT NOT NULL,
    finverify       TEXT NOT NULL,
    rekey           INTEGER NOT NULL DEFAULT 0,
    price_fen       BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    submitted_at    BIGINT,
    reviewed_at     BIGINT
);
CREATE INDEX applications_org ON applications (organisation_id, created_at, id);
CREATE INDEX applications_list ON applications (created_at, id);
CREATE INDEX applications_status ON applications (status, created_at);
-- At most one open application per certificate.
CREATE UNIQUE INDEX applications_open_serial ON applications (cert_serial)
    WHERE status NOT IN ('installed', 'cancelled');

CREATE TABLE documents (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    data           BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX documents_app ON documents (application_id, created_at);

CREATE TABLE finverify_attempts (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    code_hash      TEXT NOT NULL,
    tries          INTEGER NOT NULL DEFAULT 0,
    max_tries      INTEGER NOT NULL,
    bank           TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL,
    sent_at        BIGINT NOT NULL,
    verified_at    BIGINT,
    failed_at      BIGINT
);
CREATE INDEX finverify_app ON finverify_attempts (application_id, sent_at);

CREATE TABLE issuances (
    application_id TEXT PRIMARY KEY REFERENCES applications (id),
    mode           TEXT NOT NULL CHECK (mode IN ('same_key', 'rekey')),
    serial         TEXT NOT NULL UNIQUE,
    der            BYTEA NOT NULL,
    chain          BYTEA NOT NULL,
    not_before     BIGINT NOT NULL,
    not_after      BIGINT NOT NULL,
    issued_at      BIGINT NOT NULL
);

CREATE TABLE challenges (
    nonce_hash     TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX challenges_app ON challenges (application_id);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    before    TEXT NOT NULL,
    after     TEXT NOT NULL,
    ip        TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_target ON audit_log (target, seq);

-- The chain head: one row, locked by every append so appends are serial.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP TABLE challenges;
DROP TABLE issuances;
DROP TABLE finverify_attempts;
DROP TABLE documents;
DROP TABLE applications;
DROP TABLE certificates;
DROP TABLE auth_tokens;
DROP TABLE sms_codes;
DROP TABLE users;
DROP TABLE organisations;
