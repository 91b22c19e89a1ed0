-- Wake-ups for the processes that otherwise poll, and a cheaper webhook claim (issue 20).
-- (New events wake the webhook dispatchers through db/events.py's own pg_notify on
-- `paywatch_events`, not a trigger here: a sweep's batch then notifies once, not per row.)

-- 1. A store, or what it accepts and where, changed: the watchers re-read the accounts they
--    watch at once (a new store's first payment no longer waits for their periodic refresh).
CREATE FUNCTION paywatch_notify_stores() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paywatch_stores', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER stores_notify
AFTER INSERT OR DELETE OR UPDATE OF solana_recipient, solana_unique_amount ON stores
FOR EACH STATEMENT EXECUTE FUNCTION paywatch_notify_stores();

CREATE TRIGGER store_assets_notify
AFTER INSERT OR DELETE OR UPDATE ON store_assets
FOR EACH STATEMENT EXECUTE FUNCTION paywatch_notify_stores();

-- 2. A dispatcher's claim reads each endpoint's oldest due deliveries in (next_attempt_at, id)
--    order: with id in the index that is a range read of a few rows, not a sort of the
--    endpoint's whole backlog on every claim.
DROP INDEX webhook_deliveries_endpoint_due_idx;
CREATE INDEX webhook_deliveries_endpoint_due_idx
    ON webhook_deliveries (endpoint_id, next_attempt_at, id) WHERE status = 'pending';
