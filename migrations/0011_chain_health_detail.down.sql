ALTER TABLE chain_health DROP COLUMN rpc_errors, DROP COLUMN lag;
