-- Watchers keep an in-memory index reference -> open payment. Any process may create or close a
-- payment, so every change to a payment's status (and every new payment) is announced on the
-- `paywatch_payments` channel; a watcher that missed a notification catches up on its resync.
CREATE FUNCTION paywatch_notify_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paywatch_payments', json_build_object(
        'id', NEW.id, 'chain', NEW.chain, 'status', NEW.status)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER payments_notify
AFTER INSERT OR UPDATE OF status ON payments
FOR EACH ROW EXECUTE FUNCTION paywatch_notify_payment();

-- Transfers the watcher still has to follow to their final commitment.
CREATE INDEX transfers_open_idx ON transfers (chain, slot)
    WHERE status IN ('processed', 'confirmed');
