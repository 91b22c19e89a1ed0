-- The merchant dashboard (issue 18): server-side sessions signed in with an API key.
--
-- The browser holds a random token in an HttpOnly cookie; only its SHA-256 is stored, so a
-- read of this table cannot be replayed as a cookie. A session ends at the first of: sign out
-- (ended_at), its absolute expiry, an idle gap longer than the settings allow (checked against
-- last_seen_at with the database's clock, the one clock of that decision), or its key being
-- revoked or expiring (the lookup joins the key). `store_id` is the store an operator's key is
-- looking at (the switcher); a store key's session is always on its own store.
CREATE TABLE dashboard_sessions (
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    key_id       uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    store_id     uuid REFERENCES stores (id) ON DELETE SET NULL,
    csrf_token   text NOT NULL CHECK (length(csrf_token) BETWEEN 32 AND 128),
    client       text NOT NULL DEFAULT '' CHECK (length(client) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX dashboard_sessions_key_idx ON dashboard_sessions (key_id) WHERE ended_at IS NULL;
-- The sweep deletes sessions long over; this finds them without a scan.
CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);
