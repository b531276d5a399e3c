"""Runs the real twisted.web site on 127.0.0.1 (a free port) and talks HTTP to it from a thread.

The global reactor is never run; `call` iterates it while the client thread waits, so the scheduler
can still live on a `task.Clock` that the test advances by hand.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from twisted.internet import reactor as _reactor

reactor: Any = _reactor


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    def __init__(self, site: Any) -> None:
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"

    def close(self) -> None:
        d = self.port.stopListening()
        while not d.called:
            reactor.iterate(0.01)

    def call(
        self, method: str, path: str, *, token: str | None = None, body: bytes | None = None,
        json_body: Any = None, content_type: str | None = None, timeout: float = 10.0,
    ) -> Response:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            content_type = content_type or "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        result: dict[str, Any] = {}

        def fetch() -> None:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as res:
                    result["r"] = Response(res.status, dict(res.headers), res.read())
            except urllib.error.HTTPError as err:
                result["r"] = Response(err.code, dict(err.headers), err.read())
            except Exception as exc:
                result["e"] = exc

        thread = threading.Thread(target=fetch)
        thread.start()
        while thread.is_alive():
            reactor.iterate(0.005)
        if "e" in result:
            raise result["e"]
        return result["r"]
