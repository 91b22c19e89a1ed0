-- EVM chains: how each store's payments on a chain are matched, deposit-address allocation,
-- the recent chain of block hashes per chain (reorg detection), unmatched transfers listed
-- for their store, and the indexes that matching by address needs.

-- deposit_address: each payment gets xpub/0/next_index (the counter moves in the payment's
-- own transaction, so a rolled-back payment leaves no gap). shared_address: one address,
-- amounts made unique among its open payments.
CREATE TABLE store_evm_chains (
    store_id   uuid NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    chain      text NOT NULL CHECK (chain ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    mode       text NOT NULL CHECK (mode IN ('deposit_address', 'shared_address')),
    xpub       text CHECK (length(xpub) BETWEEN 100 AND 120),
    address    text CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
    next_index integer NOT NULL DEFAULT 0 CHECK (next_index >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, chain),
    CHECK (mode <> 'deposit_address' OR xpub IS NOT NULL),
    CHECK (mode <> 'shared_address' OR address IS NOT NULL)
);

-- The canonical chain as the watcher last saw it, a few hundred blocks deep: a new block whose
-- parent is not the hash held here means a reorg, walked back to the common ancestor.
CREATE TABLE evm_blocks (
    chain       text NOT NULL,
    number      bigint NOT NULL CHECK (number >= 0),
    hash        text NOT NULL CHECK (hash ~ '^0x[0-9a-f]{64}$'),
    parent_hash text NOT NULL CHECK (parent_hash ~ '^0x[0-9a-f]{64}$'),
    block_time  timestamptz,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, number)
);

-- A transfer nobody can match (a shared address paid an amount no open payment has) still
-- belongs to the store whose address it reached, so the merchant can list it.
ALTER TABLE transfers ADD COLUMN store_id uuid REFERENCES stores (id) ON DELETE RESTRICT;
CREATE INDEX transfers_unmatched_idx ON transfers (store_id, id)
    WHERE payment_id IS NULL AND store_id IS NOT NULL;
CREATE INDEX transfers_block_idx ON transfers (chain, block_hash)
    WHERE block_hash IS NOT NULL AND status IN ('processed', 'confirmed', 'finalized');

-- Matching by address: EVM payments carry no reference.
CREATE INDEX payments_evm_recipient_idx ON payments (chain, lower(recipient))
    WHERE reference IS NULL;
CREATE UNIQUE INDEX payments_deposit_address_uq ON payments (chain, lower(recipient))
    WHERE derivation_index IS NOT NULL;
-- The safety net under shared_address amounts: never two open payments one transfer could pay.
CREATE UNIQUE INDEX payments_shared_amount_uq
    ON payments (chain, lower(recipient), COALESCE(mint, ''), amount_due)
    WHERE reference IS NULL AND derivation_index IS NULL AND status IN ('pending', 'detected');
