"""The aiohttp application. `build_app` takes what it needs explicitly (no globals)."""

from __future__ import annotations

import time

import aiohttp
import asyncpg
from aiohttp import web

from api import (
    analytics,
    checkout,
    dashboard,
    exports,
    health,
    me,
    openapi,
    orders,
    payments,
    quotes,
    refunds,
    stores,
    transfers,
    txrequest,
    webhooks,
)
from api.auth import auth_middleware, install_key_cache
from api.errors import Handler, error_middleware
from api.guards import input_middleware
from api.keys import CHAINS, DB_POOL, MIGRATIONS, QUOTES, RATE_LIMITER, SETTINGS
from api.ratelimit import RateLimiter
from db.migrator import Migration, load_migrations
from paywatch.core.chains import ChainRegistry
from paywatch.core.metrics import HTTP_DURATION, HTTP_REQUESTS
from paywatch.core.pricing import QuoteService, build_quote_service
from paywatch.core.settings import Settings

ROUTE_MODULES = (health, me, stores, orders, payments, refunds, transfers, quotes, analytics,
                 exports, webhooks, checkout, txrequest, dashboard)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        # The route's pattern, not the raw path: ids in paths would explode label cardinality.
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_DURATION.labels(request.method, route).observe(time.perf_counter() - started)


def build_app(settings: Settings, pool: asyncpg.Pool,
              migrations: list[Migration] | None = None,
              quote_service: QuoteService | None = None, *,
              chains: ChainRegistry,
              session: aiohttp.ClientSession | None = None) -> web.Application:
    """Call inside a running event loop (the price sources' HTTP session belongs to it).
    `chains` is the composition root's registry (paywatch.chains.build_chains): everything
    chain-specific the API does goes through it. `session` is the daemon's shared HTTP session
    (chain reads for Transaction Requests); without one the app opens and closes its own."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware, input_middleware, auth_middleware],
        client_max_size=settings.api_max_body_bytes,
    )
    app[SETTINGS] = settings
    app[DB_POOL] = pool
    app[CHAINS] = chains
    app[MIGRATIONS] = migrations if migrations is not None else load_migrations()
    app[RATE_LIMITER] = RateLimiter(settings.api_rate_limit_per_minute)
    install_key_cache(app)
    if session is None:  # tests and tools; the daemon shares its own with the jobs
        own = session = aiohttp.ClientSession()

        async def close_session(_app: web.Application) -> None:
            await own.close()

        app.on_cleanup.append(close_session)
    app[txrequest.HTTP_SESSION] = session
    app[QUOTES] = (quote_service if quote_service is not None
                   else build_quote_service(settings, session))
    operations: list[openapi.Operation] = []
    for module in ROUTE_MODULES:
        module.add_routes(app)
        operations += getattr(module, "OPERATIONS", [])
    openapi.add_routes(app, operations)
    return app
