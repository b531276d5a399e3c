"""The slice of the reactor the campaign code uses, as a Protocol both the reactor and task.Clock meet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class ReactorClock(Protocol):
    def seconds(self) -> float: ...

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> Any: ...
