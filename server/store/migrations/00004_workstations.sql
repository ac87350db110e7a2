-- Counter workstations: an enrolled TPM P-256 public key per workstation,
-- the single-use challenges they sign, the counter sessions they get and
-- the clerk sessions a counter opened.

-- +goose Up
CREATE TABLE workstations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    public_key  BYTEA NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    enrolled_by TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE counter_challenges (
    nonce_hash TEXT PRIMARY KEY,
    origin     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE counter_tokens (
    hash           TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    workstation_id TEXT NOT NULL REFERENCES workstations (id) ON DELETE CASCADE,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX counter_tokens_ws ON counter_tokens (workstation_id);

-- Clerk sessions a counter signed in: revoking the workstation ends them.
CREATE TABLE counter_families (
    family         TEXT PRIMARY KEY,
    workstation_id TEXT NOT NULL REFERENCES workstations (id) ON DELETE CASCADE
);
CREATE INDEX counter_families_ws ON counter_families (workstation_id);

-- +goose Down
DROP TABLE counter_families;
DROP TABLE counter_tokens;
DROP TABLE counter_challenges;
DROP TABLE workstations;
