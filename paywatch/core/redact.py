"""One masking rule for every URL that leaves the process: logs, metric labels, `config show`,
error messages. Providers put API keys anywhere in a URL (Helius `?api-key=`, Alchemy and
Infura `/v2/<key>`, `https://user:key@host`, libpq `?sslpassword=`), and we cannot tell a key
from a name, so the rule is positional rather than clever:

    scheme://host[:port]   kept: it says which upstream, which is what a reader needs
    userinfo               -> ***@   (the user name can itself be the key)
    path                   -> /***   (any non-empty path; a bare "/" is kept)
    query                  -> name=*** for every parameter (names kept when they are plain
                              words such as api-key or sslmode, else *** too)
    fragment               dropped

    https://user:pw@rpc.example.com:8443/v2/KEY?api-key=K&x=1
        -> https://***@rpc.example.com:8443/***?api-key=***&x=***

Anything that does not parse as scheme://host becomes "***": an unparsable value is shown as
nothing rather than risk showing a key. `redact_text` applies the same rule to every URL inside
free text (exception messages quote URLs) and hides API keys and bearer tokens."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_PARAM_NAME = re.compile(r"[A-Za-z_-]{1,32}")
# Our API keys (see paywatch/apikeys.py) and any bearer credential, wherever they appear.
_API_KEY = re.compile(r"\b(pw_live_)[A-Za-z0-9]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s'\"\\]+")


def mask_url(url: str) -> str:
    """The URL with userinfo, path and query values masked (see the module docstring)."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:  # bad port, unbalanced IPv6 brackets
        return MASK
    if not parts.scheme or not host:
        return MASK
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    if "@" in parts.netloc:
        netloc = f"{MASK}@{netloc}"
    path = parts.path if parts.path in ("", "/") else f"/{MASK}"
    query = "&".join(_mask_param(p) for p in parts.query.split("&") if p)
    return f"{parts.scheme}://{netloc}{path}{'?' + query if query else ''}"


def _mask_param(param: str) -> str:
    name, sep, _value = param.partition("=")
    if not sep:  # a bare `?KEY`: the whole parameter may be the secret
        return MASK
    return f"{name if _PARAM_NAME.fullmatch(name) else MASK}={MASK}"


def redact_text(text: str) -> str:
    """Free text with every URL masked by `mask_url` and API keys and bearer tokens hidden."""
    text = _URL.sub(_mask_match, text)
    text = _API_KEY.sub(rf"\g<1>{MASK}", text)
    return _BEARER.sub(rf"\g<1>{MASK}", text)


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(0)
    try:
        has_host = urlsplit(found).hostname is not None
    except ValueError:
        has_host = True  # looks like a URL but does not parse: mask it
    # "http:// or https://," in a message is prose about schemes, not a URL with a secret.
    if not has_host and "@" not in found:
        return found
    return mask_url(found)
