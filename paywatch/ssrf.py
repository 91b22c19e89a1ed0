"""Webhook URLs may not point into the operator's network (SSRF): every address the host
resolves to must be public, unless the operator allows private targets (the demo and tests do).
Checked when an endpoint is created and again before each delivery (DNS can change)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeUrl(ValueError):
    pass


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


async def check_url(url: str, allow_private: bool) -> None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # e.g. an unbalanced "[" or a port that is not a number
        raise UnsafeUrl(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeUrl("webhook URLs must be http(s) URLs with a host")
    if parts.username or parts.password:
        raise UnsafeUrl("webhook URLs may not carry credentials")
    if allow_private:
        return
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        # UnicodeError: a host name that IDNA cannot encode (found by schemathesis)
        raise UnsafeUrl(f"cannot resolve {host!r}: {exc}") from None
    for *_rest, sockaddr in infos:
        if _is_private(str(sockaddr[0])):
            raise UnsafeUrl(f"{host} resolves to {sockaddr[0]}, a private, loopback "
                            "or link-local address; set PAYWATCH_WEBHOOK_ALLOW_PRIVATE=true "
                            "to allow it")
