"""Typed keys for what the composition root puts on the aiohttp app."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from api.ratelimit import RateLimiter
from db.migrator import Migration
from paywatch.core.chains import ChainRegistry
from paywatch.core.pricing import QuoteService
from paywatch.core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
MIGRATIONS = web.AppKey("migrations", list[Migration])
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
QUOTES = web.AppKey("quotes", QuoteService)
CHAINS = web.AppKey("chains", ChainRegistry)
