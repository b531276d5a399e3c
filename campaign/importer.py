"""Borrower import from CSV (UTF-8 or GBK, header row) and JSON lines.

Every row goes through `dialogue.borrower.Borrower.from_dict`, the same validator the dialogue uses,
so a row that imports is a row a call can run on. Bad rows are reported with their line number and
reason; good rows are written in one transaction, so a failed write leaves nothing half-imported.
Rows with the same borrower id are merged (numbers united, later fields win), which also makes
importing the same file twice a no-op.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from campaign.model import ImportedBorrower, ImportReport
from campaign.store import CampaignStore
from campaign.zones import same_offset, zones_for_numbers
from config.campaign_config import StrategyBook
from dialogue.borrower import FIELDS, Borrower, BorrowerError, normalize_phone
from dialogue.segments import Segment, segment_for
from telemetry.logging import log_event

log = logging.getLogger(__name__)

EXTRA_PHONES_FIELD = "alt_phones"  # more numbers for the same borrower: JSON list, or ';'-separated in CSV
_INT_FIELDS = ("overdue_days", "risk_score")
OPTIONAL_FIELDS = ("gender", "value_tier", "timezone")  # Borrower.from_dict has defaults for these
REQUIRED_FIELDS = tuple(name for name in FIELDS if name not in OPTIONAL_FIELDS)
# A valid value per field, put in place of a bad one so validation can go on and find the row's other errors
_STAND_INS: dict[str, Any] = {
    "id": "x", "name": "x", "gender": "unknown", "phone": "+8613800000000", "amount_due": 1.0, "overdue_days": 0,
    "due_date": "2026-01-01", "product": "x", "creditor": "x", "risk_score": 0, "value_tier": "normal",
    "timezone": "Asia/Shanghai",
}


class ImportFormatError(ValueError):
    """The file as a whole cannot be read (wrong encoding, no header, not JSON lines)."""


class RowErrors(BorrowerError):
    """Every problem of one row, not only the first, so the operator fixes the row in one go."""

    def __init__(self, errors: list[BorrowerError]) -> None:
        super().__init__(errors[0].field, errors[0].reason)
        self.errors = errors


def check_all_fields(record: Mapping[str, Any]) -> Borrower:
    """`Borrower.from_dict`, but collecting every field error: a bad field is replaced by a stand-in and
    validation runs again until the record passes; raises `RowErrors` listing them all."""
    errors: list[BorrowerError] = []
    trial = dict(record)
    for _ in range(len(FIELDS) + len(trial) + 1):
        try:
            borrower = Borrower.from_dict(trial)
        except BorrowerError as exc:
            errors.append(exc)
            if exc.field in _STAND_INS:
                trial[exc.field] = _STAND_INS[exc.field]
            elif exc.field in trial:
                del trial[exc.field]  # an unknown column
            else:
                break
            continue
        if errors:
            raise RowErrors(errors)
        return borrower
    raise RowErrors(errors or [BorrowerError("(record)", "cannot be validated")])


@dataclass(frozen=True)
class PreparedImport:
    """Validated, merged rows and the row errors, not yet written."""

    total_rows: int
    good: tuple[ImportedBorrower, ...]
    errors: tuple[tuple[int, str], ...]  # a row may have several, each with its line
    rejected_rows: int = 0


@dataclass(frozen=True)
class RawRow:
    line: int
    fields: dict[str, Any]


def decode_bytes(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GBK, which is what spreadsheets in mainland China write.

    A UTF-8 file with a few broken bytes is not silently read as GBK (GBK accepts most byte pairs
    and would store mojibake names): when other lines hold valid UTF-8 text, the file is refused
    with the lines that are broken, so the operator can fix exactly those.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    utf8_bad = _undecodable_lines(lines, "utf-8")
    utf8_text = sum(1 for line in lines if not line.isascii() and _decodes(line, "utf-8"))
    if utf8_text < len(utf8_bad):
        try:
            return data.decode("gbk")
        except UnicodeDecodeError:
            raise ImportFormatError(_bad_bytes_message("GBK", _undecodable_lines(lines, "gbk"))) from None
    raise ImportFormatError(_bad_bytes_message("UTF-8", utf8_bad))


def _decodes(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _undecodable_lines(lines: list[bytes], encoding: str) -> list[tuple[int, int, int]]:
    """(line number, column, byte) of the first undecodable byte of each bad line."""
    bad = []
    for number, line in enumerate(lines, start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError as exc:
            bad.append((number, exc.start + 1, line[exc.start]))
    return bad


def _bad_bytes_message(encoding: str, bad: list[tuple[int, int, int]]) -> str:
    shown = ", ".join(f"line {n} (byte 0x{b:02x} at column {c})" for n, c, b in bad[:5])
    more = f" and {len(bad) - 5} more lines" if len(bad) > 5 else ""
    return (f"the file is not valid {encoding} text: {shown}{more}; fix those lines or save the file as UTF-8 "
            "(nothing was imported)")


def sniff_format(name: str, text: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def missing_columns(text: str) -> list[str]:
    """Required borrower columns absent from a CSV header (checked once, not once per row)."""
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    present = {name.strip() for name in header}
    return [name for name in REQUIRED_FIELDS if name not in present]


def read_csv(text: str) -> Iterator[RawRow]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise ImportFormatError("the CSV file has no header row")
    for row in reader:
        fields: dict[str, Any] = {}
        for key, value in row.items():
            if key is None:
                fields["(extra columns)"] = value
                continue
            cleaned = (value or "").strip()
            if cleaned == "":
                continue
            fields[key.strip()] = cleaned
        if fields:
            yield RawRow(reader.line_num, fields)


def read_jsonl(text: str) -> Iterator[RawRow]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRow(number, {"(json)": f"not valid JSON: {exc.msg}"})
            continue
        yield RawRow(number, value if isinstance(value, dict) else {"(json)": "not a JSON object"})


def validate_row(
    fields: Mapping[str, Any], segments: tuple[Segment, ...] | None, strategies: StrategyBook,
    strategy_override: str | None = None,
) -> ImportedBorrower:
    """One row -> a borrower ready to store; `BorrowerError` names the field and the reason."""
    if "(json)" in fields:
        raise BorrowerError("(record)", str(fields["(json)"]))
    if "(extra columns)" in fields:
        raise BorrowerError("(record)", "more values than header columns")
    record = dict(fields)
    extra = record.pop(EXTRA_PHONES_FIELD, None)
    for name in _INT_FIELDS:  # CSV gives strings; from_dict wants whole numbers
        value = record.get(name)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            record[name] = int(value)
    timezone_known = bool(record.get("timezone"))
    errors: list[BorrowerError] = []
    try:
        borrower: Borrower | None = check_all_fields(record)
    except RowErrors as exc:
        errors.extend(exc.errors)
        borrower = None
    phones: list[str] = [borrower.phone] if borrower else []
    try:
        extras = _extra_phones(extra)
    except BorrowerError as exc:
        errors.append(exc)
        extras = []
    for raw in extras:
        try:
            phone = normalize_phone(raw)
        except BorrowerError as exc:
            errors.append(BorrowerError(EXTRA_PHONES_FIELD, f"{raw!r}: {exc.reason}"))
            continue
        if phone not in phones:
            phones.append(phone)
    if errors or borrower is None:
        raise RowErrors(errors)
    segment = segment_for(borrower, segments) if segments else None
    strategy = strategies.get(segment.strategy if segment else None)
    w = strategies.get(strategy_override or strategy.name).priority  # the strategy that will really dial
    priority = round(w.base + w.per_overdue_day * borrower.overdue_days + w.per_thousand_due * borrower.amount_due
                     / 1000.0, 3)
    return ImportedBorrower(
        borrower_id=borrower.id,
        data=borrower.to_dict(),
        phones=tuple(phones),
        timezone=borrower.timezone if timezone_known else None,
        segment=segment.name if segment else None,
        strategy=strategy.name,
        script_set=segment.script_set if segment else None,
        priority=priority,
    )


def _extra_phones(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [p for p in (part.strip() for part in value.split(";")) if p]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BorrowerError(EXTRA_PHONES_FIELD, "expected a list of phone numbers")


def _merge(a: ImportedBorrower, b: ImportedBorrower) -> ImportedBorrower:
    phones = list(a.phones) + [p for p in b.phones if p not in a.phones]
    return ImportedBorrower(
        borrower_id=b.borrower_id, data=b.data, phones=tuple(phones), timezone=b.timezone, segment=b.segment,
        strategy=b.strategy, script_set=b.script_set, priority=b.priority,
    )


def zone_warnings(campaign_zone: str, borrowers: Iterable[ImportedBorrower], now: float) -> tuple[str, ...]:
    """Borrowers whose numbers ring in other zones than the campaign's (COMPLIANCE C1).

    Not an error: the gate uses the number's zones for a borrower without `timezone`, but an operator
    who picked the campaign's zone for these borrowers has picked the wrong one and should hear it.
    """
    elsewhere: dict[str, int] = {}
    for borrower in borrowers:
        zones = zones_for_numbers(borrower.phones)
        if zones and not any(same_offset(zone, campaign_zone, now) for zone in zones):
            key = ", ".join(zones[:3]) + (f" (+{len(zones) - 3} more)" if len(zones) > 3 else "")
            elsewhere[key] = elsewhere.get(key, 0) + 1
    return tuple(
        f"{count} borrower(s) have numbers in {zones}, not in the campaign's zone {campaign_zone}: calls follow "
        "the borrower's timezone, else the numbers' zone(s) with the stricter window"
        for zones, count in sorted(elsewhere.items(), key=lambda item: -item[1])
    )


class BorrowerImporter:
    """Validates rows, merges duplicates, and writes the good rows to the store in one transaction."""

    def __init__(
        self, store: CampaignStore, strategies: StrategyBook, segments: tuple[Segment, ...] | None,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.strategies = strategies
        self.segments = segments
        self.clock = clock

    def on(self, store: CampaignStore) -> BorrowerImporter:
        """The same importer writing through another store connection (campaign.store_thread)."""
        return self if store is self.store else BorrowerImporter(store, self.strategies, self.segments, self.clock)

    def prepare(self, rows: Iterable[RawRow], strategy_override: str | None = None) -> PreparedImport:
        """Validate and merge rows; touches no store, so it may run on a worker thread."""
        good: dict[str, ImportedBorrower] = {}
        errors: list[tuple[int, str]] = []
        total = rejected = 0
        for row in rows:
            total += 1
            try:
                borrower = validate_row(row.fields, self.segments, self.strategies, strategy_override)
            except RowErrors as exc:
                rejected += 1
                errors.extend((row.line, f"{e.field}: {e.reason}") for e in exc.errors)
                continue
            except BorrowerError as exc:
                rejected += 1
                errors.append((row.line, f"{exc.field}: {exc.reason}"))
                continue
            except (KeyError, LookupError) as exc:
                rejected += 1
                errors.append((row.line, str(exc)))
                continue
            known = good.get(borrower.borrower_id)
            good[borrower.borrower_id] = borrower if known is None else _merge(known, borrower)
        return PreparedImport(total, tuple(good.values()), tuple(errors), rejected)

    def prepare_bytes(self, name: str, data: bytes, strategy_override: str | None = None) -> PreparedImport:
        text = decode_bytes(data)
        if sniff_format(name, text) == "jsonl":
            return self.prepare(read_jsonl(text), strategy_override)
        missing = missing_columns(text)
        if missing:  # every row would fail the same way: one error for the header, no row is read
            rows = sum(1 for _ in read_csv(text))
            reason = (f"header: missing column(s) {', '.join(missing)} (required: {', '.join(REQUIRED_FIELDS)}); "
                      f"none of the {rows} rows was imported")
            return PreparedImport(rows, (), ((1, reason),), rows)
        return self.prepare(read_csv(text), strategy_override)

    def prepare_records(
        self, records: Iterable[Mapping[str, Any]], strategy_override: str | None = None
    ) -> PreparedImport:
        return self.prepare((RawRow(i, dict(r) if isinstance(r, Mapping) else {"(json)": "not a JSON object"})
                             for i, r in enumerate(records, start=1)), strategy_override)

    def commit(self, campaign_id: str, prepared: PreparedImport) -> ImportReport:
        """Write the good rows in one transaction (the API does it on its store thread, campaign.store_thread)."""
        campaign = self.store.get_campaign(campaign_id)
        inserted, merged, unchanged = self.store.upsert_borrowers(campaign_id, list(prepared.good), self.clock())
        total, errors = prepared.total_rows, prepared.errors
        warnings = zone_warnings(campaign.timezone, prepared.good, self.clock())
        for warning in warnings:
            log_event(log, "campaign.import_zone_mismatch", logging.WARNING, campaign=campaign_id, reason=warning)
        report = ImportReport(
            total_rows=total, inserted=inserted, merged=merged, unchanged=unchanged,
            duplicates=total - prepared.rejected_rows - len(prepared.good), errors=errors, warnings=warnings,
        )
        log_event(log, "campaign.import", campaign=campaign_id, rows=total, inserted=inserted,
                  merged=merged, unchanged=unchanged, bad_rows=len(errors))
        return report
