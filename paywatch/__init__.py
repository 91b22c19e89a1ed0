"""paywatch: a self-hosted, watch-only crypto payment watcher."""

__version__ = "0.1.0"
