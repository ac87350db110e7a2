-- The audit log names the counter workstation an action was taken at, and
-- each row says how its hash is computed: record version 1 (rows written
-- before, hashed as they always were, without a workstation id) or 2 (the
-- workstation id is part of the hashed content). Old chains still verify.
--
-- Counter session tokens get a family (the session and its refreshes), as
-- clerk sessions have: a spent counter refresh token is kept, marked spent,
-- so presenting it again is seen as reuse and ends the whole family.
-- Tokens from before get their workstation as their family.
--
-- Applications are looked up by certificate (has it been renewed?).

-- +goose Up
ALTER TABLE audit_log ADD COLUMN workstation_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN record_version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX audit_workstation ON audit_log (workstation_id, seq);

ALTER TABLE counter_tokens ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE counter_tokens ADD COLUMN spent_at BIGINT;
UPDATE counter_tokens SET family = workstation_id WHERE family = '';
CREATE INDEX counter_tokens_family ON counter_tokens (family);

CREATE INDEX applications_serial ON applications (cert_serial);

-- +goose Down
DROP INDEX applications_serial;
DROP INDEX counter_tokens_family;
ALTER TABLE counter_tokens DROP COLUMN spent_at;
ALTER TABLE counter_tokens DROP COLUMN family;
DROP INDEX audit_workstation;
ALTER TABLE audit_log DROP COLUMN record_version;
ALTER TABLE audit_log DROP COLUMN workstation_id;
