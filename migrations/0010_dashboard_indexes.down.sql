DROP INDEX events_payment_idx;
DROP INDEX payments_store_confirmed_idx;
DROP INDEX payments_store_recipient_idx;
DROP INDEX payments_store_exception_idx;
DROP INDEX payments_store_status_idx;
