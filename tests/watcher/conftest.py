"""Watcher tests: the chain fixtures come from tests/conftest.py; the API gets no rate limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from paywatch.core.settings import Settings


@pytest.fixture
def settings(db_dsn: str, tmp_path: Path) -> Settings:
    """The API for these tests creates payments in bursts: no per-key rate limit."""
    return Settings(database_url=db_dsn, data_dir=tmp_path, api_rate_limit_per_minute=10**9,
                    _env_file=None)
