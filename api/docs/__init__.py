"""/docs: the API reference a developer integrates from, rendered on the server with Jinja2
(api/rendering.py's environment: autoescaping, strict undefined) from the OpenAPI document and
the examples scripts/record_examples.py recorded against the real app (examples.json here).
No script, no inline style, no CDN: one stylesheet we serve, under a strict CSP; readable
without JavaScript (nested objects open with <details>)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web

from api import rendering
from api.docs import view
from api.rendering import Asset

CSP = ("default-src 'none'; style-src 'self'; form-action 'none'; "
       "base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
EXAMPLES_FILE = "examples.json"


@cache
def static_assets() -> dict[str, Asset]:
    return rendering.load_assets("api.docs", {"docs.css": "text/css"}, "/docs/static")


@cache
def environment() -> jinja2.Environment:
    env = rendering.environment("api.docs")
    env.globals.update(static=lambda name: static_assets()[name].url)
    return env


@cache
def examples() -> dict[str, Any]:
    """The recorded examples: {"operations": {operationId: ...}, "webhooks": {type: body}}."""
    text = (resources.files("api.docs") / EXAMPLES_FILE).read_text(encoding="utf-8")
    return dict(json.loads(text))


def render(doc: dict[str, Any]) -> str:
    recorded = examples()
    return environment().get_template("docs.html").render(
        info=doc["info"], groups=view.routes(doc, recorded.get("operations", {})),
        events=view.events(doc, recorded.get("webhooks", {})), schemas=view.schemas(doc),
        base_url=view.BASE_URL,
        key=view.KEY_PLACEHOLDER, recorded_at=recorded.get("recorded_at"))


def add_routes(app: web.Application, doc_key: web.AppKey[dict[str, Any]]) -> None:
    page: list[str] = []   # rendered once, on the first request: the document never changes

    async def docs(request: web.Request) -> web.Response:
        if not page:
            page.append(render(request.app[doc_key]))
        return web.Response(text=page[0], content_type="text/html", charset="utf-8",
                            headers={**HEADERS, "Cache-Control": "no-cache"})

    async def static_file(request: web.Request) -> web.Response:
        asset = static_assets().get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound(text="no such file\n")
        return web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff",
                                     "Cache-Control": "public, max-age=86400"})

    app.router.add_get("/docs", docs)
    app.router.add_get("/docs/static/{name}", static_file)
