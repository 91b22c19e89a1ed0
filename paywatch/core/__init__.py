"""The domain core: money, states and settlement rules, pricing and CFV, Solana Pay and EVM
request formats, settings, metrics, URL masking. It never imports `db` (an import contract
says so): the core is pure, and services, api, watcher and the composition root import it."""
