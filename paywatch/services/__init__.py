"""Use cases over the database: the write paths that the API, the CLI, the demo, the watchers
and the scheduled jobs all call, so each rule is written once."""
