"""The domain core: money, states and settlement rules, pricing and CFV, Solana Pay and EVM
request formats, settings, metrics, URL masking. Imports nothing of ours but `db` is not among
it either: the core is pure and is imported by services, api, watcher and the composition root."""
