-- Where each number has signed in by SMS, so that strangers asking for codes
-- to a number cannot lock its owner out of the places they sign in from; and
-- the wrong tries on a code from other places than the one that asked for it,
-- counted apart, so that they cannot kill the code for the one who asked.

-- +goose Up
CREATE TABLE sms_sources (
    mobile       TEXT NOT NULL,
    source       TEXT NOT NULL,
    signed_in_at BIGINT NOT NULL,
    PRIMARY KEY (mobile, source)
);
CREATE INDEX sms_sources_signed_in ON sms_sources (signed_in_at);
ALTER TABLE sms_codes ADD COLUMN foreign_tries INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sms_codes DROP COLUMN foreign_tries;
DROP TABLE sms_sources;
