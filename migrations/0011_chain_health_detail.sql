-- The leading watcher's report carries what an operator asks next after "is it up?"
-- (issue 18's overview): how far behind it is, and how often its RPC endpoints fail.
-- lag: Solana, slots between the WebSocket's newest slot and the RPC node's confirmed slot;
--      EVM, blocks between the node's head and the last block processed. NULL: not measured yet.
-- rpc_errors: RPC requests that failed in the five minutes before the stamp (all endpoints).
ALTER TABLE chain_health
    ADD COLUMN lag bigint CHECK (lag >= 0),
    ADD COLUMN rpc_errors integer NOT NULL DEFAULT 0 CHECK (rpc_errors >= 0);
