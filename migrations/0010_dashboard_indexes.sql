-- Indexes the dashboard's overview and payments pages need with 100,000 payments in a store
-- (bench/dashboard.py; each one below replaced a sequential scan or a long filtered walk seen
-- in EXPLAIN ANALYZE on that data):
--
-- * a status filter (and the overview's open/detected counts) reads the store's payments of one
--   status newest first, instead of walking every payment of the store to find the rare ones;
CREATE INDEX payments_store_status_idx ON payments (store_id, status, created_at DESC, id DESC);
-- * an exception filter, likewise (few payments have one: a partial index stays small);
CREATE INDEX payments_store_exception_idx ON payments (store_id, exception, created_at DESC,
                                                       id DESC)
    WHERE exception IS NOT NULL;
-- * the search box's address (a deposit address names one payment): the payments paid to it;
CREATE INDEX payments_store_recipient_idx ON payments (store_id, recipient);
-- * the overview's received value (db/analytics.py, also GET /v1/analytics/summary): confirmed
--   payments by when they were confirmed;
CREATE INDEX payments_store_confirmed_idx ON payments (store_id, confirmed_at)
    WHERE status = 'confirmed';
-- * a payment's timeline (its events, oldest first) and its page's live version, read once a
--   second while the page is open: events had no index by payment.
CREATE INDEX events_payment_idx ON events (payment_id, seq) WHERE payment_id IS NOT NULL;
