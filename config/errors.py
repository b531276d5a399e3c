"""The one error type for bad configuration, so start-up can print file, key and expectation."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A configuration file is missing, unreadable, or holds a value we cannot use.

    The message always names the file and the dotted key, and says what was expected, because the
    person reading it is an operator editing TOML, not a programmer reading a traceback.
    """

    def __init__(self, file: Path | str, key: str, expected: str, found: object = None) -> None:
        self.file = Path(file)
        self.key = key
        self.expected = expected
        self.found = found
        where = f"{self.file}: {key}" if key else str(self.file)
        got = "" if found is None else f" (found {found!r})"
        super().__init__(f"{where}: expected {expected}{got}")
