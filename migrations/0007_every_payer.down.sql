DROP INDEX transfers_inbox_idx;
CREATE INDEX transfers_unmatched_idx ON transfers (store_id, id)
    WHERE payment_id IS NULL AND store_id IS NOT NULL;
ALTER TABLE transfers DROP CONSTRAINT transfers_resolution_check2;
UPDATE transfers SET payment_id = NULL, status = 'rejected', reject_reason = unmatched_reason
WHERE unmatched_reason IS NOT NULL AND (resolution IS DISTINCT FROM 'assigned')
  AND chain <> 'solana';
DELETE FROM transfers WHERE unmatched_reason IS NOT NULL AND payment_id IS NULL
  AND chain = 'solana';
ALTER TABLE transfers DROP COLUMN matched_by, DROP COLUMN via_program,
    DROP COLUMN unmatched_reason, DROP COLUMN resolution, DROP COLUMN resolved_at,
    DROP COLUMN resolved_by, DROP COLUMN resolution_note;
DROP INDEX payments_unique_amount_idx;
ALTER TABLE payments DROP COLUMN unique_amount, DROP COLUMN payer;
ALTER TABLE stores DROP COLUMN solana_unique_amount;
