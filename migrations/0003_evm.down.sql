DROP INDEX payments_shared_amount_uq;
DROP INDEX payments_deposit_address_uq;
DROP INDEX payments_evm_recipient_idx;
DROP INDEX transfers_block_idx;
DROP INDEX transfers_unmatched_idx;
ALTER TABLE transfers DROP COLUMN store_id;
DROP TABLE evm_blocks;
DROP TABLE store_evm_chains;
