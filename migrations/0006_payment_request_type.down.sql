ALTER TABLE payments DROP COLUMN request_chain_id, DROP COLUMN request_type;
