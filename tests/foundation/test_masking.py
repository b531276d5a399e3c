"""Personal data never reaches a log line unmasked (COMPLIANCE C11)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from telemetry.logging import configure_logging, log_event
from telemetry.mask import mask_name, mask_phone, mask_text


def test_mask_phone_keeps_head_and_tail() -> None:
    """A mobile number keeps its first 3 and last 4 digits, like 138****1234."""
    assert mask_phone("13800131234") == "138****1234"
    assert mask_phone("+8613800131234") == "+86138****1234"


def test_mask_text_hides_digit_runs_anywhere() -> None:
    """Free text with a phone or ID number inside is masked; short numbers stay."""
    out = mask_text("dial sip:+8613800131234@10.0.0.1 code 486 id 110101199003071234")
    assert "13800131234" not in out and "199003071234" not in out and "486" in out


def test_mask_name() -> None:
    """Only the first character of a name survives."""
    assert mask_name("张伟") == "张*" and mask_name("欧阳娜娜") == "欧***"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_lines_are_masked(fmt: str) -> None:
    """Structured fields and message text are masked in both log formats."""
    stream = io.StringIO()
    configure_logging("INFO", fmt, stream)
    logger = logging.getLogger("test.mask")
    log_event(logger, "dial 13800131234", phone="+8613800131234", borrower_name="张伟", amount_due=3200.5)
    line = stream.getvalue()
    for secret in ("13800131234", "张伟", "3200.5"):
        assert secret not in line
    if fmt == "json":
        assert json.loads(line)["borrower_name"] == "张*"


def test_json_lines_stay_valid_with_long_numbers() -> None:
    """Durations and counts with many digits keep the line valid JSON; a phone-sized integer is masked."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    log_event(logging.getLogger("test.mask"), "e", ms=12.3456789, count=12345678, callee_id=13800131234,
              nested={"note": "call 13800131234"})
    record = json.loads(stream.getvalue())
    assert record["ms"] == 12.3456789 and record["count"] == 12345678
    assert "13800131234" not in stream.getvalue()


def test_mask_stream_masks_another_programs_log_lines() -> None:
    """Kamailio's stderr through `python -m telemetry.mask_stream`: numbers masked, bytes that are not UTF-8 survive."""
    import subprocess
    import sys

    raw = (b'ERROR: <core> parse_from_header(): bad From header ["J. User <sip:13912345678@10.0.0.1]\n'
           b"binary \xff\xfe then 8613800138000 and port 5060\n")
    done = subprocess.run([sys.executable, "-m", "telemetry.mask_stream"], input=raw, capture_output=True,
                          check=True, timeout=30)
    out = done.stdout.decode()
    assert "13912345678" not in out and "8613800138000" not in out
    assert "139****5678" in out and "861****8000" in out and "port 5060" in out
    assert out.count("\n") == 2
