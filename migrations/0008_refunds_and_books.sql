-- Refunds without a key, and books the finance person can close (issue 17).

-- A refund is a payment request in the other direction: paywatch builds it (Solana Pay transfer
-- request with a fresh reference, or EIP-681) from the merchant's own wallet (`source`) to the
-- customer (`destination`); the merchant's wallet signs and sends it; the watcher confirms it
-- like incoming money. paywatch never signs.
CREATE TABLE refunds (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    store_id uuid NOT NULL REFERENCES stores (id) ON DELETE RESTRICT,
    payment_id uuid NOT NULL REFERENCES payments (id) ON DELETE RESTRICT,
    order_id uuid REFERENCES orders (id) ON DELETE RESTRICT,
    chain text NOT NULL,
    asset text NOT NULL,
    mint text,
    decimals smallint NOT NULL,
    amount base_units NOT NULL CHECK (amount > 0),
    -- The amount's value in the payment's currency at the rate the merchant chose: the original
    -- quote's price, or the market price when the refund was made.
    currency currency_code NOT NULL,
    fiat_amount fiat_amount NOT NULL,
    rate text NOT NULL CHECK (rate IN ('quote', 'market')),
    price numeric(38, 18) NOT NULL CHECK (price > 0),
    price_source text NOT NULL,
    source text NOT NULL,
    destination text NOT NULL,
    -- where the destination came from: given by the merchant, the payer a Transaction Request
    -- recorded, or the sender of the payment's transfer
    destination_from text NOT NULL CHECK (destination_from IN ('given', 'payer', 'sender')),
    reference text UNIQUE,
    request_type text NOT NULL,
    request_chain_id bigint,
    payment_url text NOT NULL,
    reason text CHECK (length(reason) <= 500),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'confirmed', 'expired', 'cancelled')),
    expires_at timestamptz NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz,
    closed_at timestamptz,
    CHECK ((status = 'confirmed') <= (confirmed_at IS NOT NULL)),
    CHECK (expires_at > created_at)
);
CREATE INDEX refunds_payment_idx ON refunds (payment_id);
CREATE INDEX refunds_store_idx ON refunds (store_id, created_at DESC, id DESC);
CREATE INDEX refunds_pending_idx ON refunds (chain, expires_at) WHERE status = 'pending';

-- Outgoing transfers (a refund the merchant's wallet sent) are transfers too: one ledger.
ALTER TABLE transfers
    ADD COLUMN direction text NOT NULL DEFAULT 'in' CHECK (direction IN ('in', 'out')),
    ADD COLUMN refund_id uuid REFERENCES refunds (id) ON DELETE RESTRICT;
CREATE INDEX transfers_refund_idx ON transfers (refund_id) WHERE refund_id IS NOT NULL;

-- What was given back, kept current by the refunds module in the transaction that confirms one.
ALTER TABLE payments ADD COLUMN amount_refunded base_units NOT NULL DEFAULT 0;

-- The books: each transfer's value in its payment's currency, at the payment's quoted price
-- (known when the transfer is recorded) and at the market price when it was confirmed (filled
-- by a job right after, from the price cache), so a finance person sees the difference.
ALTER TABLE transfers
    ADD COLUMN currency currency_code,
    ADD COLUMN fiat_at_quote fiat_amount,
    ADD COLUMN market_price numeric(38, 18),
    ADD COLUMN market_price_source text,
    ADD COLUMN market_price_at timestamptz,
    ADD COLUMN fiat_at_confirmation fiat_amount;
CREATE INDEX transfers_unvalued_idx ON transfers (id)
    WHERE market_price IS NULL AND status IN ('confirmed', 'finalized');

-- Orders can be refunded in part.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'pending_payment', 'paid', 'fulfilled', 'shipped', 'delivered', 'cancelled', 'refunded',
    'partially_refunded'));

-- Refunds (issue 17, the refunds part): the Solana watcher keeps an in-memory index of pending
-- refunds' references, as it does for payments; every new refund and status change is
-- announced on the payments' channel with `kind` = 'refund', so the one LISTEN loop of the
-- index (db/listen.py) follows both. Other listeners skip a payload whose kind is a refund.
CREATE FUNCTION paywatch_notify_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paywatch_payments', json_build_object(
        'id', NEW.id, 'chain', NEW.chain, 'status', NEW.status, 'kind', 'refund')::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER refunds_notify
AFTER INSERT OR UPDATE OF status ON refunds
FOR EACH ROW EXECUTE FUNCTION paywatch_notify_refund();
