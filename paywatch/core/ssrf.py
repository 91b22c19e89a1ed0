"""Webhook URLs may not point into the operator's network (SSRF): every address the host
resolves to must be public, unless the operator allows private targets (the demo and tests do).

Checked when an endpoint is created, and at delivery by `PinnedResolver`: the delivery session
connects only to addresses that this very lookup returned and the policy accepted, so a name
that answers a public address to the check and 127.0.0.1 to the connection (DNS rebinding)
gets nowhere. Refusals say "refused by policy" and nothing about what the name resolved to, so
neither the API nor the delivery log becomes a map of the operator's network."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A hung system resolver must not hold a delivery (or an API request) for long.
RESOLVE_TIMEOUT_S = 5.0
REFUSED = "refused by policy"
_POLICY = ("must resolve, and only to public addresses (not private, loopback or link-local "
           "ones); set PAYWATCH_WEBHOOK_ALLOW_PRIVATE=true to allow them")

# IPv6 ranges that carry an IPv4 address in their last 32 bits and reach it: checked by that
# address (ipaddress calls 64:ff9b::/96 and ::/96 global whatever they embed).
_EMBEDS_IPV4 = (ipaddress.IPv6Network("::ffff:0:0/96"), ipaddress.IPv6Network("64:ff9b::/96"),
                ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("::/96"))
# Tunnels to wherever the embedded IPv4 address (or a relay) points: 6to4 (deprecated by RFC
# 7526) and Teredo. No webhook receiver needs them, so they are refused outright.
_TUNNELS = (ipaddress.IPv6Network("2002::/16"), ipaddress.IPv6Network("2001::/32"))


class UnsafeUrl(ValueError):
    pass


class RefusedAddress(OSError):
    """Raised inside aiohttp's connector (which wraps OSErrors from resolvers)."""


def is_public(ip: IPAddress) -> bool:
    """True only for unicast addresses routed on the public internet: `is_global` alone lets
    through multicast, NAT64, IPv4-compatible and 6to4 addresses that embed private ones."""
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _TUNNELS):
            return False
        if any(ip in net for net in _EMBEDS_IPV4):
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return ip.is_global and not ip.is_multicast


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None


def _target(url: str) -> tuple[str, int]:
    """The URL's host and port, or UnsafeUrl for anything that is not a plain http(s) URL."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # e.g. an unbalanced "[" or a port that is not a number
        raise UnsafeUrl(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeUrl("webhook URLs must be http(s) URLs with a host")
    if parts.username or parts.password:
        raise UnsafeUrl("webhook URLs may not carry credentials")
    return host, port or (443 if parts.scheme == "https" else 80)


def check_literal(url: str, allow_private: bool) -> None:
    """Syntax, and the address when the host is an IP literal (aiohttp does not ask a resolver
    for those); names are checked by `PinnedResolver` when connecting."""
    host, _port = _target(url)
    ip = _address(host)
    if not allow_private and ip is not None and not is_public(ip):
        raise UnsafeUrl(f"{host} {_POLICY}")


class PinnedResolver(AbstractResolver):
    """Resolves once, refuses the whole answer if any address in it is not public, and returns
    only what it checked: aiohttp connects to those addresses while TLS (SNI, certificate) and
    the Host header still use the URL's name."""

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None,
                 timeout_s: float | None = None) -> None:
        self.allow_private, self.timeout_s = allow_private, timeout_s
        self.inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        try:
            async with asyncio.timeout(self.timeout_s or RESOLVE_TIMEOUT_S):
                answers = await self.inner.resolve(host, port, family)
        except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
            # UnicodeError: a host name that IDNA cannot encode (found by schemathesis).
            # Unresolvable and private read alike: which names exist inside is no one's business.
            if self.allow_private and isinstance(exc, OSError):
                raise
            raise RefusedAddress(f"{host} {_POLICY}") from None
        if not self.allow_private and not all(_public_answer(a) for a in answers):
            raise RefusedAddress(f"{host} {_POLICY}")
        return answers

    async def close(self) -> None:
        await self.inner.close()


def _public_answer(answer: ResolveResult) -> bool:
    ip = _address(answer["host"])
    return ip is not None and is_public(ip)


def delivery_session(allow_private: bool, resolver: AbstractResolver | None = None,
                     ) -> aiohttp.ClientSession:
    """A client session that connects only to checked addresses, and ignores proxy settings
    from the environment (a proxy would resolve the name again, out of our sight)."""
    connector = aiohttp.TCPConnector(resolver=PinnedResolver(allow_private, resolver))
    return aiohttp.ClientSession(connector=connector, trust_env=False)


async def check_url(url: str, allow_private: bool,
                    resolver: AbstractResolver | None = None) -> None:
    """For the API, when an endpoint is created: the same policy as at delivery."""
    check_literal(url, allow_private)
    host, port = _target(url)
    if allow_private or _address(host) is not None:
        return
    pinned = PinnedResolver(allow_private, resolver)
    try:
        await pinned.resolve(host, port, socket.AF_UNSPEC)
    except RefusedAddress as exc:
        raise UnsafeUrl(str(exc)) from None
    finally:
        await pinned.close()
