-- Each QR attempt of an application gets the next number: "the latest
-- attempt" is the highest number. created_at is whole seconds (as
-- time_expire), so two attempts in one second tied, and out_trade_no's random
-- tail then picked one at random.

-- +goose Up
ALTER TABLE payment_orders ADD COLUMN attempt_no INTEGER NOT NULL DEFAULT 0;
UPDATE payment_orders SET attempt_no = (
    SELECT COUNT(*) FROM payment_orders o2
    WHERE o2.application_id = payment_orders.application_id
      AND (o2.created_at < payment_orders.created_at
           OR (o2.created_at = payment_orders.created_at AND o2.out_trade_no <= payment_orders.out_trade_no)));
CREATE UNIQUE INDEX payment_orders_attempt ON payment_orders (application_id, attempt_no);

-- +goose Down
DROP INDEX payment_orders_attempt;
ALTER TABLE payment_orders DROP COLUMN attempt_no;
