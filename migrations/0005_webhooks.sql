-- Webhook deliveries are claimed per endpoint (each endpoint gets at most its budget of
-- deliveries in flight, so one that hangs holds back no one else): the claim looks up each
-- endpoint's oldest due deliveries, which this index answers without scanning the backlog.
CREATE INDEX webhook_deliveries_endpoint_due_idx ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
