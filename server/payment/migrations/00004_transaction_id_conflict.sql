-- A provider that gives a payment the transaction id of another order (the
-- dev simulator did after a restart; WeChat and Alipay never should) does
-- not wedge the order: it is credited with transaction_id left empty, and
-- the id the provider sent is kept here for reconciliation.

-- +goose Up
ALTER TABLE payment_orders ADD COLUMN transaction_id_conflict TEXT;

-- +goose Down
ALTER TABLE payment_orders DROP COLUMN transaction_id_conflict;
