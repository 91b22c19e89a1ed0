-- paywatch initial schema: stores and keys, customers and orders, payments and transfers,
-- the event outbox and webhook deliveries, idempotency keys, the audit log, watch cursors.
--
-- Money: crypto amounts are integers in base units, NUMERIC(78,0) (fits any uint256);
-- fiat amounts are NUMERIC(20,8) with an ISO 4217 code beside them. Never float.
-- ON DELETE: things that only describe a store (keys, endpoints, assets) go with it (CASCADE);
-- money records (orders, payments, transfers, events) RESTRICT deletes: they are books.

CREATE DOMAIN base_units AS NUMERIC(78, 0) CHECK (VALUE >= 0);
CREATE DOMAIN fiat_amount AS NUMERIC(20, 8) CHECK (VALUE >= 0);
CREATE DOMAIN currency_code AS char(3) CHECK (VALUE ~ '^[A-Z]{3}$');

CREATE TABLE stores (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name                        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    default_currency            currency_code NOT NULL DEFAULT 'USD',
    solana_recipient            text CHECK (solana_recipient ~ '^[1-9A-HJ-NP-Za-km-z]{32,44}$'),
    -- Confirmation policy: the commitment a payment must reach, and optionally `finalized`
    -- above a fiat amount (big payments wait longer).
    commitment                  text NOT NULL DEFAULT 'confirmed'
                                CHECK (commitment IN ('confirmed', 'finalized')),
    finalized_above             fiat_amount,
    underpaid_tolerance_percent NUMERIC(5, 2) NOT NULL DEFAULT 0
                                CHECK (underpaid_tolerance_percent BETWEEN 0 AND 100),
    underpaid_tolerance_amount  fiat_amount NOT NULL DEFAULT 0,
    payment_lifetime            interval NOT NULL DEFAULT '15 minutes'
                                CHECK (payment_lifetime BETWEEN '1 minute' AND '7 days'),
    monitoring_window           interval NOT NULL DEFAULT '24 hours'
                                CHECK (monitoring_window BETWEEN '0' AND '30 days'),
    confirmation_window         interval NOT NULL DEFAULT '1 hour'
                                CHECK (confirmation_window BETWEEN '1 minute' AND '7 days'),
    accept_late_payments        boolean NOT NULL DEFAULT false,
    cfv_policy                  jsonb NOT NULL DEFAULT '{"enabled": true}'::jsonb,
    allow_framing               boolean NOT NULL DEFAULT false,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- What a store accepts: SOL, SPL tokens (mint + decimals), later EVM coins and tokens.
CREATE TABLE store_assets (
    store_id   uuid NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    chain      text NOT NULL CHECK (chain ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    asset      text NOT NULL CHECK (asset ~ '^[A-Z0-9]{1,12}$'),
    mint       text,              -- SPL mint or ERC-20 contract; NULL for the native coin
    decimals   smallint NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, chain, asset)
);

-- API keys: only a SHA-256 of the key is kept (keys are 256-bit random, so a slow hash buys
-- nothing); `prefix` lets a person tell keys apart. A NULL store is the operator's admin key.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    store_id     uuid REFERENCES stores (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    scopes       text[] NOT NULL CHECK (
                     cardinality(scopes) > 0 AND scopes <@ ARRAY['payments:read', 'payments:write',
                     'orders:read', 'orders:write', 'webhooks:read', 'webhooks:write', 'admin']),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CHECK (store_id IS NOT NULL OR 'admin' = ANY (scopes))
);
CREATE INDEX api_keys_store_idx ON api_keys (store_id);

CREATE TABLE customers (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    store_id   uuid NOT NULL REFERENCES stores (id) ON DELETE RESTRICT,
    email      text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    name       text CHECK (length(name) <= 200),
    wallet     text CHECK (length(wallet) <= 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_store_email_key ON customers (store_id, lower(email));

-- Readable order numbers (ORD-20261122-0001), allocated per store and day by one upsert,
-- so concurrent orders never share a number.
CREATE TABLE order_number_counters (
    store_id uuid NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    day      date NOT NULL,
    last     integer NOT NULL CHECK (last > 0),
    PRIMARY KEY (store_id, day)
);

CREATE TABLE orders (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    store_id         uuid NOT NULL REFERENCES stores (id) ON DELETE RESTRICT,
    number           text NOT NULL,
    customer_id      uuid REFERENCES customers (id) ON DELETE RESTRICT,
    status           text NOT NULL DEFAULT 'pending_payment' CHECK (status IN (
                         'pending_payment', 'paid', 'fulfilled', 'shipped', 'delivered',
                         'cancelled', 'refunded')),
    currency         currency_code NOT NULL,
    subtotal         fiat_amount NOT NULL,
    shipping         fiat_amount NOT NULL DEFAULT 0,
    tax              fiat_amount NOT NULL DEFAULT 0,
    total            fiat_amount NOT NULL,
    shipping_address jsonb,
    carrier          text,
    tracking_number  text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    paid_at          timestamptz,
    cancelled_at     timestamptz,
    UNIQUE (store_id, number),
    CHECK (total = subtotal + shipping + tax),
    CHECK ((status = 'paid') <= (paid_at IS NOT NULL))
);
CREATE INDEX orders_store_created_idx ON orders (store_id, created_at DESC, id DESC);
CREATE INDEX orders_customer_idx ON orders (customer_id);

CREATE TABLE order_items (
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position   smallint NOT NULL CHECK (position >= 0),
    sku        text NOT NULL CHECK (length(sku) BETWEEN 1 AND 100),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    unit_price fiat_amount NOT NULL,
    total      fiat_amount NOT NULL,
    PRIMARY KEY (order_id, position),
    CHECK (total = unit_price * quantity)
);

CREATE TABLE order_status_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    reason      text,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_order_idx ON order_status_history (order_id, id);

-- A payment: one requested asset on one chain, its quote (every input kept, so any amount can
-- be explained later), its clocks and its state. status and exception are orthogonal (BTCPay).
CREATE TABLE payments (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    store_id             uuid NOT NULL REFERENCES stores (id) ON DELETE RESTRICT,
    order_id             uuid REFERENCES orders (id) ON DELETE RESTRICT,
    chain                text NOT NULL CHECK (chain ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    asset                text NOT NULL,
    mint                 text,
    decimals             smallint NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    recipient            text NOT NULL,
    reference            text UNIQUE,           -- Solana Pay reference public key
    derivation_index     integer CHECK (derivation_index >= 0),
    status               text NOT NULL DEFAULT 'pending' CHECK (status IN (
                             'pending', 'detected', 'confirmed', 'expired', 'invalid',
                             'cancelled')),
    exception            text CHECK (exception IN (
                             'underpaid', 'overpaid', 'paid_late', 'multiple', 'marked')),
    amount_due           base_units NOT NULL CHECK (amount_due > 0),
    amount_received      base_units NOT NULL DEFAULT 0,
    required_commitment  text NOT NULL CHECK (required_commitment IN ('confirmed', 'finalized')),
    -- the quote
    currency             currency_code NOT NULL,
    fiat_amount          fiat_amount NOT NULL,  -- before any CFV discount
    fiat_amount_due      fiat_amount NOT NULL,  -- after it
    price                NUMERIC(38, 18) NOT NULL CHECK (price > 0),
    price_source         text NOT NULL,
    price_at             timestamptz NOT NULL,
    fair_value           NUMERIC(38, 18) CHECK (fair_value > 0),
    fair_value_source    text,
    valuation_percent    NUMERIC(12, 4),
    valuation_status     text CHECK (valuation_status IN ('undervalued', 'fair', 'overvalued')),
    discount_percent     NUMERIC(5, 2) NOT NULL DEFAULT 0
                         CHECK (discount_percent BETWEEN 0 AND 100),
    quote                jsonb NOT NULL,        -- the whole explanation, as returned by the API
    -- what the customer's wallet shows
    label                text CHECK (length(label) <= 200),
    message              text CHECK (length(message) <= 500),
    memo                 text CHECK (length(memo) <= 500),
    redirect_url         text CHECK (length(redirect_url) <= 2048),
    payment_url          text NOT NULL CHECK (length(payment_url) <= 2048),
    metadata             jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- the three clocks
    expires_at           timestamptz NOT NULL,
    monitor_until        timestamptz NOT NULL,
    confirm_deadline_at  timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    detected_at          timestamptz,
    confirmed_at         timestamptz,
    closed_at            timestamptz,
    CHECK (fiat_amount_due <= fiat_amount),
    CHECK (monitor_until >= expires_at AND expires_at > created_at),
    CHECK ((status = 'confirmed') <= (confirmed_at IS NOT NULL)),
    CHECK (chain <> 'solana' OR reference IS NOT NULL)
);
CREATE INDEX payments_store_created_idx ON payments (store_id, created_at DESC, id DESC);
CREATE INDEX payments_order_idx ON payments (order_id);
-- The watcher's hot query: payments still worth watching on a chain.
CREATE INDEX payments_open_idx ON payments (chain, monitor_until)
    WHERE status IN ('pending', 'detected', 'expired');
-- The expiry sweep.
CREATE INDEX payments_expiry_idx ON payments (expires_at) WHERE status = 'pending';
CREATE UNIQUE INDEX payments_deposit_address_key ON payments (chain, recipient)
    WHERE derivation_index IS NOT NULL;

-- Every transfer the watcher saw, matched or not. Append-only: a transfer is never deleted,
-- it is reverted (reorg, dead fork) or rejected (with the reason).
CREATE TABLE transfers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain         text NOT NULL,
    tx_id         text NOT NULL,
    index         integer NOT NULL CHECK (index >= 0),   -- instruction / log index in the tx
    payment_id    uuid REFERENCES payments (id) ON DELETE RESTRICT,
    asset         text NOT NULL,
    mint          text,
    sender        text,
    recipient     text NOT NULL,
    amount        base_units NOT NULL,
    memo          text,
    slot          bigint CHECK (slot >= 0),              -- Solana slot or EVM block number
    block_hash    text,
    block_time    timestamptz,
    status        text NOT NULL CHECK (status IN (
                      'processed', 'confirmed', 'finalized', 'reverted', 'rejected')),
    reject_reason text,
    seen_at       timestamptz NOT NULL DEFAULT now(),
    confirmed_at  timestamptz,
    reverted_at   timestamptz,
    UNIQUE (chain, tx_id, index),
    CHECK ((status = 'rejected') = (reject_reason IS NOT NULL))
);
CREATE INDEX transfers_payment_idx ON transfers (payment_id);
CREATE INDEX transfers_unsettled_idx ON transfers (chain, seen_at)
    WHERE status IN ('processed', 'confirmed');

-- The transactional outbox: every state change writes its event in the same transaction.
CREATE TABLE events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    store_id    uuid NOT NULL REFERENCES stores (id) ON DELETE RESTRICT,
    type        text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    payment_id  uuid REFERENCES payments (id) ON DELETE RESTRICT,
    order_id    uuid REFERENCES orders (id) ON DELETE RESTRICT,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    dispatched_at timestamptz                       -- fanned out into webhook_deliveries
);
CREATE INDEX events_store_seq_idx ON events (store_id, seq DESC);
CREATE INDEX events_undispatched_idx ON events (seq) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_endpoints (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    store_id        uuid NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    url             text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    -- HMAC key: must be readable to sign, so it is kept as is; shown to the merchant once.
    secret          text NOT NULL,
    description     text CHECK (length(description) <= 500),
    event_types     text[] NOT NULL DEFAULT ARRAY['*'],
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_store_idx ON webhook_endpoints (store_id);

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
-- The dispatcher's hot query: due deliveries, claimed with FOR UPDATE SKIP LOCKED.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

-- Idempotency-Key: same key + same body replays the stored response; another body is a 409.
-- Scoped to the key's owner (a store, or the operator), kept 24 hours.
CREATE TABLE idempotency_keys (
    scope           text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method          text NOT NULL,
    path            text NOT NULL,
    request_hash    bytea NOT NULL,
    response_status smallint,                   -- NULL while the first request is in flight
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- Who changed what: every state-changing call writes a row (actor = key id, cli, watcher).
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id    uuid REFERENCES stores (id) ON DELETE SET NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL,
    before      jsonb,
    after       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id, id);
CREATE INDEX audit_log_store_idx ON audit_log (store_id, id DESC);

-- Where the watcher got to, per watched account (Solana: last signature; EVM: block number),
-- so a restart or reconnect backfills exactly what it missed.
CREATE TABLE watch_cursors (
    chain      text NOT NULL,
    account    text NOT NULL,
    cursor     text NOT NULL,
    slot       bigint NOT NULL DEFAULT 0 CHECK (slot >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, account)
);
