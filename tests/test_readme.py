"""The README's copyable webhook verifier must accept what paywatch signs, and nothing else."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from paywatch.webhooks import sign
from tests.conftest import ROOT


def readme_verifier() -> object:
    text = (Path(ROOT) / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None, "the README lost its verification snippet"
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)  # noqa: S102 - our own README, run as merchants would
    return namespace["verify_signature"]


def test_the_readme_verifier_matches_the_signer() -> None:
    verify = readme_verifier()
    body, now = b'{"id":"evt_1","type":"payment.confirmed"}', int(time.time())
    verify(body, sign("whsec_a", now, body), "whsec_a")  # type: ignore[operator]
    for header, why in ((sign("whsec_b", now, body), "mismatch"),
                        (sign("whsec_a", now - 3600, body), "stale"),
                        ("v1=deadbeef", "stale")):
        with pytest.raises(ValueError, match=why):
            verify(body, header, "whsec_a")  # type: ignore[operator]
    with pytest.raises(ValueError, match="mismatch"):
        verify(body + b" ", sign("whsec_a", now, body), "whsec_a")  # type: ignore[operator]
