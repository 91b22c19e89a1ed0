"""What one `paywatch run` process does (its --role): a module of its own so that the command
line can offer the choices without importing the daemon."""

ROLES = ("all", "api", "watcher")
