DROP INDEX transfers_open_idx;
DROP TRIGGER payments_notify ON payments;
DROP FUNCTION paywatch_notify_payment();
