DROP INDEX webhook_deliveries_endpoint_due_idx;
CREATE INDEX webhook_deliveries_endpoint_due_idx ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
DROP TRIGGER store_assets_notify ON store_assets;
DROP TRIGGER stores_notify ON stores;
DROP FUNCTION paywatch_notify_stores();
