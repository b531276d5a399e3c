"""One SipEndpoint per test module (starting pjsua2 costs about a second), on free local ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sip_config import make_config


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from reactor_wait import run_until
    from twisted.internet import reactor

    from telephony.endpoint import SipEndpoint

    ep = SipEndpoint(make_config(tmp_path_factory.mktemp("sip")), reactor)
    run_until(ep.start())
    try:
        yield ep
    finally:
        run_until(ep.stop())
