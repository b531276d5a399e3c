"""Typed access to one TOML table, raising `ConfigError` with file and dotted key on any mismatch.

Every config module reads through this so that all start-up errors look the same to an operator.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from config.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()


def load_toml(path: Path | str) -> Table:
    """Read a TOML file into a `Table`; a missing or malformed file is a `ConfigError`."""
    file = Path(path)
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(file, "", "an existing TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(file, "", f"a readable file ({exc.strerror})") from None
    return Table(data, file, "")


class Table:
    """One TOML table plus where it came from, so errors can name `file: a.b.c`."""

    def __init__(self, data: dict[str, Any], file: Path, prefix: str) -> None:
        self.data = data
        self.file = file
        self.prefix = prefix

    def key_path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, expected: str, found: object = None) -> ConfigError:
        return ConfigError(self.file, self.key_path(key), expected, found)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> Iterator[str]:
        return iter(self.data)

    def reject_unknown(self, allowed: Sequence[str]) -> None:
        """Refuse typos: an unknown key is far more often a mistake than a feature."""
        for key in self.data:
            if key not in allowed:
                raise self.error(key, "one of the known keys " + ", ".join(sorted(allowed)), key)

    def _get(self, key: str, default: Any, kinds: tuple[type, ...], expected: str) -> Any:
        if key not in self.data:
            if default is _MISSING:
                raise self.error(key, f"{expected} (the key is required)")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(key, expected, value)
        if not isinstance(value, kinds):
            raise self.error(key, expected, value)
        return value

    def string(self, key: str, default: Any = _MISSING, *, choices: Sequence[str] | None = None) -> Any:
        expected = "a string" if choices is None else "one of " + ", ".join(repr(c) for c in choices)
        value = self._get(key, default, (str,), expected)
        if choices is not None and value is not None and value not in choices:
            raise self.error(key, expected, value)
        return value

    def integer(self, key: str, default: Any = _MISSING, *, min: int | None = None, max: int | None = None) -> Any:
        value = self._get(key, default, (int,), _range_text("an integer", min, max))
        _check_range(self, key, value, min, max, "an integer")
        return value

    def number(
        self, key: str, default: Any = _MISSING, *, min: float | None = None, max: float | None = None
    ) -> Any:
        value = self._get(key, default, (int, float), _range_text("a number", min, max))
        _check_range(self, key, value, min, max, "a number")
        return None if value is None else float(value)

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default, (bool,), "true or false")

    def strings(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default, (list,), "a list of strings")
        if value is not None and not all(isinstance(v, str) for v in value):
            raise self.error(key, "a list of strings", value)
        return None if value is None else tuple(value)

    def table(self, key: str, *, required: bool = False) -> Table:
        """A sub-table; an absent optional one is an empty table so defaults apply."""
        if key not in self.data:
            if required:
                raise self.error(key, "a table (the section is required)")
            return Table({}, self.file, self.key_path(key))
        value = self.data[key]
        if not isinstance(value, dict):
            raise self.error(key, "a table", value)
        return Table(value, self.file, self.key_path(key))

    def tables(self, key: str) -> list[Table]:
        """An array of tables (`[[key]]`)."""
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, "an array of tables ([[...]])", value)
        return [Table(v, self.file, f"{self.key_path(key)}[{i}]") for i, v in enumerate(value)]


def _range_text(kind: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{kind} from {lo} to {hi}"
    if lo is not None:
        return f"{kind} >= {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


def _check_range(table: Table, key: str, value: Any, lo: float | None, hi: float | None, kind: str) -> None:
    if value is None:
        return
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise table.error(key, _range_text(kind, lo, hi), value)
