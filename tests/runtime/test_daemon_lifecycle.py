"""`run_daemon` in this process: whatever step of the start fails, what was opened before it is
closed again (the HTTP runner, the shared HTTP session, the jobs), in the README's order."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from paywatch import daemon
from paywatch.core.settings import Settings
from tests.conftest import free_port


class SchedulerRefused(Exception):
    pass


async def test_a_failed_start_closes_what_it_opened(settings: Settings,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Any] = []
    real_runner = daemon.web.AppRunner

    def runner(*args: Any, **kwargs: Any) -> Any:
        opened.append(real_runner(*args, **kwargs))
        return opened[-1]

    real_quotes = daemon.build_quote_service

    def quotes(settings: Settings, session: aiohttp.ClientSession) -> Any:
        opened.append(session)  # the shared HTTP session, opened before the runner
        return real_quotes(settings, session)

    def refuse(_settings: Settings, _pool: object, _quotes: object) -> None:
        raise SchedulerRefused  # a start step that fails after the runner was set up

    monkeypatch.setattr(daemon, "build_quote_service", quotes)
    monkeypatch.setattr(daemon.web, "AppRunner", runner)
    monkeypatch.setattr(daemon, "build_scheduler", refuse)
    config = settings.model_copy(update={"api_port": free_port(), "solana_watch": False,
                                         "evm_watch": False})
    with pytest.raises(SchedulerRefused):
        await daemon.run_daemon(config, stop=asyncio.Event())
    session, app_runner = opened
    assert session.closed
    assert app_runner.server is None  # cleaned up: its app's on_cleanup hooks have run
