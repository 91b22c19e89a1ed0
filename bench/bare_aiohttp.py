"""The ceiling for bench/api_load.py: a bare aiohttp server on the same machine, answering the
same routes with a fixed JSON body of a payment's size (no auth, no database, no validation).

    .venv/bin/python bench/bare_aiohttp.py PORT"""

from __future__ import annotations

import json
import sys

from aiohttp import web

BODY = json.dumps({"object": "payment", "id": "0" * 36, "padding": "x" * 2400}).encode()


async def created(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, status=201, content_type="application/json")


async def read(_request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/payments", created)
    app.router.add_get("/v1/payments/{id}", read)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
