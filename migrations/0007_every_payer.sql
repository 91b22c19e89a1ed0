-- Every payer gets matched (issue 16): how a transfer matched, the inbox of transfers that
-- matched nothing, Solana unique amounts per store, and the payer a Transaction Request records.

-- A store may make each Solana payment's amount unique among its open payments to the same
-- wallet and asset, so a transfer without our reference (an exchange withdrawal, a hand-typed
-- transfer) still matches by its exact amount.
ALTER TABLE stores ADD COLUMN solana_unique_amount boolean NOT NULL DEFAULT false;

-- unique_amount: this payment's amount is unique among the open payments to its recipient and
-- asset, so a referenceless transfer of exactly that amount pays it (an EVM shared address, or
-- a Solana store that opted in). payer: the account that asked for the Solana Pay Transaction
-- Request (the refund destination later).
ALTER TABLE payments ADD COLUMN unique_amount boolean NOT NULL DEFAULT false,
                     ADD COLUMN payer text;
UPDATE payments SET unique_amount = true
WHERE reference IS NULL AND derivation_index IS NULL;
CREATE INDEX payments_unique_amount_idx ON payments (chain, recipient, amount_due)
    WHERE unique_amount;

-- matched_by: how the transfer found its payment. via_program: the value moved inside a
-- program (a Solana CPI, an EVM internal call), so its sender may be a contract or an
-- exchange's hot wallet rather than the person who paid.
-- unmatched_reason: why a transfer into an account we watch paid no payment; such a transfer
-- keeps its chain status (it can still be reverted, and assigned later) and waits in the
-- store's inbox until the merchant assigns or dismisses it (resolution, by whom, when, why).
ALTER TABLE transfers
    ADD COLUMN matched_by text CHECK (matched_by IN ('reference', 'transaction_request',
        'unique_amount', 'deposit_address', 'assigned')),
    ADD COLUMN via_program boolean NOT NULL DEFAULT false,
    ADD COLUMN unmatched_reason text,
    ADD COLUMN resolution text CHECK (resolution IN ('assigned', 'dismissed')),
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN resolved_by text,
    ADD COLUMN resolution_note text;

-- Before, EVM recorded a shared-address transfer nobody asked for as `rejected`: it becomes an
-- inbox entry that follows the chain again (processed; the next promotion round moves it on).
UPDATE transfers SET unmatched_reason = reject_reason, reject_reason = NULL, status = 'processed'
WHERE payment_id IS NULL AND status = 'rejected' AND store_id IS NOT NULL;
UPDATE transfers SET matched_by = CASE WHEN chain = 'solana' THEN 'reference'
    ELSE 'deposit_address' END
WHERE payment_id IS NOT NULL AND status <> 'rejected';
UPDATE transfers t SET matched_by = 'unique_amount'
FROM payments p WHERE t.payment_id = p.id AND p.unique_amount AND t.status <> 'rejected';

ALTER TABLE transfers ADD CONSTRAINT transfers_resolution_check2 CHECK (
    (resolution IS NULL) = (resolved_at IS NULL)
    AND (resolution IS NULL OR unmatched_reason IS NOT NULL));

DROP INDEX transfers_unmatched_idx;
CREATE INDEX transfers_inbox_idx ON transfers (store_id, id)
    WHERE unmatched_reason IS NOT NULL;
