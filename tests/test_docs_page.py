"""/docs as served: every route and event type on it, with a working example; no inline
script or style (its stylesheet is a file under a strict CSP); one h1, and every section has
an id the index links to."""

from __future__ import annotations

from html.parser import HTMLParser

from aiohttp.test_utils import TestClient


class Outline(HTMLParser):
    """What the checks need from the page: headings, section ids, links, inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.h1 = 0
        self.sections: list[str | None] = []
        self.links: set[str] = set()
        self.ids: list[str] = []
        self.inline: list[str] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h1":
            self.h1 += 1
        if tag == "section":
            self.sections.append(found.get("id"))
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "a" and (found.get("href") or "").startswith("#"):
            self.links.add(str(found["href"])[1:])
        if tag in ("script", "style") or "style" in found or any(
                name.startswith("on") for name in found):
            self.inline.append(tag)
        if tag == "link" and found.get("rel") == "stylesheet":
            self.stylesheets.append(str(found["href"]))


async def test_docs_shows_every_route_and_event_and_passes_a_basic_check(
        api: TestClient) -> None:
    doc = await (await api.get("/openapi.json")).json()
    resp = await api.get("/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "style-src 'self'" in csp
    assert "script-src" not in csp
    assert "unsafe-inline" not in csp
    html = await resp.text()
    page = Outline()
    page.feed(html)
    assert page.h1 == 1
    assert not page.inline, page.inline
    assert "http" not in "".join(page.stylesheets)  # served by us, no CDN
    assert all(page.sections), "a section without an id"
    assert set(page.sections) <= page.links, set(page.sections) - page.links
    assert len(page.ids) == len(set(page.ids)), "duplicate ids"
    assert page.links <= set(page.ids), page.links - set(page.ids)   # no link goes nowhere
    for path, methods in doc["paths"].items():
        for op in methods.values():
            assert op["operationId"] in page.sections, path
    for event_type in doc["webhooks"]:
        assert f"<code>{event_type}</code>" in html, event_type
    assert html.count("<h4>Example</h4>") == sum(len(m) for m in doc["paths"].values())
    css = await api.get(page.stylesheets[0])
    assert css.status == 200
    assert css.content_type == "text/css"


async def test_docs_shows_schemas_scopes_and_the_example_request(api: TestClient) -> None:
    html = await (await api.get("/docs")).text()
    section = html.split('<section id="post_payments"')[1].split("</section>")[0]
    assert "Scope: <code>payments:write</code>" in section
    assert 'href="#schema-PaymentCreate"' in section
    assert "<code>asset</code>" in section
    assert "<code>expires_in</code>" in section
    assert "curl -i -X POST" in section
    assert "Authorization: Bearer pw_live_..." in section
    assert "Idempotency-Key" in section
    assert ">201<" in section
    checkout = html.split('<section id="get_pay_id"')[1].split("</section>")[0]
    assert "Public: no API key" in checkout
    assert "<code>text/html</code>" in checkout


async def test_the_openapi_document_covers_operations_checkout_and_webhooks(
        api: TestClient) -> None:
    doc = await (await api.get("/openapi.json")).json()
    for path in ("/healthz", "/readyz", "/metrics", "/pay/{id}", "/pay/{id}/events",
                 "/pay/{id}/qr.svg", "/pay/{id}/transaction-request",
                 "/pay/{id}/transaction-request/qr.svg"):
        assert path in doc["paths"], path
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]
    assert "security" not in doc["paths"]["/pay/{id}"]["get"]
    hooks = doc["webhooks"]
    assert len(hooks) == 24
    schema = hooks["payment.confirmed"]["post"]["requestBody"]["content"]["application/json"]
    confirmed = doc["components"]["schemas"][schema["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert set(confirmed["required"]) == {"id", "type", "created_at", "data"}
    data = doc["components"]["schemas"]["PaymentConfirmedData"]
    assert data["properties"]["object"]["$ref"].endswith("/Payment")
    assert "settled_by_hand" in data["required"]
