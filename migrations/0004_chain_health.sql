-- The API may run in another process than the chain watchers (`paywatch run --role api`): they
-- meet here. The watcher leading a chain stamps its row (with the database's clock) after each
-- successful chain read, at most every few seconds; /readyz calls a chain unhealthy when its row
-- is missing or older than a threshold, measured with the same clock.
CREATE TABLE chain_health (
    chain      text PRIMARY KEY,
    height     bigint NOT NULL,     -- the last slot (Solana) or block number (EVM) read
    checked_at timestamptz NOT NULL DEFAULT now()
);
