-- Each verification transfer of an application gets the next number, so
-- "the latest transfer" is the highest number (sent_at may tie within a
-- microsecond, and ids are random) and the transfers are counted from their
-- own table rather than from the audit log.

-- +goose Up
ALTER TABLE finverify_attempts ADD COLUMN attempt_no INTEGER NOT NULL DEFAULT 0;
UPDATE finverify_attempts SET attempt_no = (
    SELECT COUNT(*) FROM finverify_attempts f2
    WHERE f2.application_id = finverify_attempts.application_id
      AND (f2.sent_at < finverify_attempts.sent_at
           OR (f2.sent_at = finverify_attempts.sent_at AND f2.id <= finverify_attempts.id)));
CREATE UNIQUE INDEX finverify_app_no ON finverify_attempts (application_id, attempt_no);

-- +goose Down
DROP INDEX finverify_app_no;
ALTER TABLE finverify_attempts DROP COLUMN attempt_no;
