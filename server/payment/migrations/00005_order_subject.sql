-- What an order pays for beyond its application (the certificate): the
-- daily cap on QR orders counts it too, so deleting an application and
-- making it again does not reset the count.

-- +goose Up
ALTER TABLE payment_orders ADD COLUMN subject TEXT NOT NULL DEFAULT '';
CREATE INDEX payment_orders_by_subject ON payment_orders (subject, created_at);

-- +goose Down
DROP INDEX payment_orders_by_subject;
ALTER TABLE payment_orders DROP COLUMN subject;
