"""Borrower import: encodings, row-level errors, E.164 numbers, merging, idempotence."""

from __future__ import annotations

import json

from campaign_fakes import borrower_row
from campaign_stack import StackFactory, both_engines

HEADER = ("id,name,gender,phone,amount_due,overdue_days,due_date,product,creditor,risk_score,value_tier,timezone,"
          "alt_phones")

__all__ = ["both_engines"]  # every stack of this module runs on SQLite and PostgreSQL


def _csv_line(i: int, phone: str = "", amount: str = "3200", alt: str = "") -> str:
    return (f"B{i:03d},张伟,male,{phone or f'138 0013 {i:04d}'},{amount},12,2026-11-16,信用贷,示例消费金融,620,"
            f"normal,Asia/Shanghai,{alt}")


def test_gbk_csv_imports_good_rows_and_reports_bad_ones_by_line(stack_factory: StackFactory) -> None:
    """A GBK CSV with two bad rows imports the good rows and names line and field of the bad ones."""
    s = stack_factory()
    c = s.service.create_campaign("gbk")
    text = "\n".join([HEADER, _csv_line(1), _csv_line(2, phone="12345"), _csv_line(3, amount="-5"), _csv_line(4)])
    report = s.service.import_bytes(c.id, "list.csv", text.encode("gbk"))
    assert (report.total_rows, report.inserted) == (4, 2)
    assert [line for line, _ in report.errors] == [3, 4]
    assert report.errors[0][1].startswith("phone:") and report.errors[1][1].startswith("amount_due:")
    stored = s.store.get_borrower(c.id, "B001")
    assert stored.data["name"] == "张伟"
    assert [ct.phone for ct in s.store.contacts(c.id, "B001")] == ["+8613800130001"]
    assert stored.segment == "M1_low_risk" and stored.strategy == "standard"


def test_same_file_twice_changes_nothing(stack_factory: StackFactory) -> None:
    """Importing an identical file again reports every row unchanged and leaves the store as it was."""
    s = stack_factory()
    c = s.service.create_campaign("twice")
    data = "\n".join([HEADER, _csv_line(1), _csv_line(2)]).encode("utf-8-sig")
    first = s.service.import_bytes(c.id, "a.csv", data)
    before = [(b.borrower_id, b.data, b.priority) for b in s.store.list_borrowers(c.id)]
    second = s.service.import_bytes(c.id, "a.csv", data)
    assert (first.inserted, second.inserted, second.merged, second.unchanged) == (2, 0, 0, 2)
    assert [(b.borrower_id, b.data, b.priority) for b in s.store.list_borrowers(c.id)] == before


def test_duplicates_merge_numbers_and_later_fields_win(stack_factory: StackFactory) -> None:
    """Two JSON lines for one borrower become one borrower with both numbers and the later amount."""
    s = stack_factory()
    c = s.service.create_campaign("dups")
    second = borrower_row(1, amount_due=5000, alt_phones=["0086 139 0013 9000"])
    lines = [json.dumps(borrower_row(1)), json.dumps(second)]
    report = s.service.import_bytes(c.id, "x.jsonl", "\n".join(lines).encode())
    assert (report.inserted, report.duplicates) == (1, 1)
    assert s.store.get_borrower(c.id, "B001").data["amount_due"] == 5000.0
    assert [ct.phone for ct in s.store.contacts(c.id, "B001")] == ["+8613800130001", "+8613900139000"]
    again = s.service.import_bytes(c.id, "y.jsonl", json.dumps(borrower_row(1, phone="13700137000")).encode())
    assert again.merged == 1
    assert len(s.store.contacts(c.id, "B001")) == 3


def test_bad_json_and_unknown_fields_are_row_errors(stack_factory: StackFactory) -> None:
    """Broken JSON, a non-object and an unknown field are reported per line; nothing else is stored."""
    s = stack_factory()
    c = s.service.create_campaign("bad")
    text = "{not json\n[1,2]\n" + json.dumps(borrower_row(1, colour="red"))
    report = s.service.import_bytes(c.id, "x.jsonl", text.encode())
    assert [line for line, _ in report.errors] == [1, 2, 3]
    assert "colour" in report.errors[2][1]
    assert s.store.list_borrowers(c.id) == []


def test_missing_timezone_is_stored_as_unknown(stack_factory: StackFactory) -> None:
    """A row without a time zone is stored with none, so the gate uses the campaign zone and strict window."""
    s = stack_factory()
    c = s.service.create_campaign("tz")
    row = borrower_row(1)
    del row["timezone"]
    s.service.import_records(c.id, [row])
    assert s.store.get_borrower(c.id, "B001").timezone is None


def test_missing_column_is_one_header_error(stack_factory: StackFactory) -> None:
    """A CSV without the phone column gets one error on line 1 naming the column, not one per row; nothing stored."""
    s = stack_factory()
    c = s.service.create_campaign("nophone")
    header = HEADER.replace(",phone", "")
    rows = [",".join(p for k, p in enumerate(_csv_line(i).split(",")) if k != 3) for i in range(1, 6)]
    report = s.service.import_bytes(c.id, "list.csv", "\n".join([header, *rows]).encode())
    assert report.total_rows == 5 and report.inserted == 0 and report.duplicates == 0
    assert len(report.errors) == 1
    line, reason = report.errors[0]
    assert line == 1 and reason.startswith("header:") and "phone" in reason
    assert s.store.list_borrowers(c.id) == []


def test_every_error_of_a_row_is_listed(stack_factory: StackFactory) -> None:
    """A row with a bad phone, a bad amount and a bad alt phone reports all three on its line."""
    s = stack_factory()
    c = s.service.create_campaign("many")
    bad = _csv_line(2, phone="12345", amount="-5", alt="999")
    report = s.service.import_bytes(c.id, "list.csv", "\n".join([HEADER, _csv_line(1), bad]).encode())
    assert report.inserted == 1 and report.duplicates == 0
    assert [line for line, _ in report.errors] == [3, 3, 3]
    fields = [reason.split(":")[0] for _, reason in report.errors]
    assert fields == ["phone", "amount_due", "alt_phones"]


def test_json_row_with_unknown_and_missing_fields_lists_both(stack_factory: StackFactory) -> None:
    """An unknown key and a missing required key in one JSON line are two errors of that line."""
    s = stack_factory()
    c = s.service.create_campaign("json")
    row = borrower_row(1, colour="red")
    del row["due_date"]
    report = s.service.import_bytes(c.id, "x.jsonl", json.dumps(row).encode())
    assert sorted(reason.split(":")[0] for _, reason in report.errors) == ["colour", "due_date"]


def test_undecodable_bytes_name_the_line_and_store_nothing(stack_factory: StackFactory) -> None:
    """A UTF-8 file with one broken byte on line 3 is refused naming line 3, not read as GBK mojibake."""
    import pytest

    from campaign.importer import ImportFormatError

    s = stack_factory()
    c = s.service.create_campaign("bytes")
    data = "\n".join([HEADER, _csv_line(1), _csv_line(2), _csv_line(3)]).encode("utf-8")
    lines = data.split(b"\n")
    lines[2] = lines[2].replace("张".encode(), b"\xff\xfe", 1)
    with pytest.raises(ImportFormatError, match=r"line 3 \(byte 0xff at column 6\)"):
        s.service.import_bytes(c.id, "list.csv", b"\n".join(lines))
    assert s.store.list_borrowers(c.id) == []
    gbk = s.service.import_bytes(c.id, "list.csv", "\n".join([HEADER, _csv_line(1)]).encode("gbk"))
    assert gbk.inserted == 1 and s.store.get_borrower(c.id, "B001").data["name"] == "张伟"


def test_stand_ins_cover_every_field_and_are_valid() -> None:
    """The stand-ins used to keep validating a bad row form a valid borrower with every field of the record."""
    from campaign.importer import _STAND_INS, REQUIRED_FIELDS
    from dialogue.borrower import FIELDS, Borrower

    assert set(_STAND_INS) == set(FIELDS) and set(REQUIRED_FIELDS) <= set(FIELDS)
    Borrower.from_dict(_STAND_INS)
