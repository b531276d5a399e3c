"""`server.py chat`: real classifier and slot extraction over stdin lines, JSON lines out, outcome last."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from cli import chat
from server import build_parser

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "borrower.example.json"


def _chat(lines: list[str], *extra: str) -> list[dict[str, Any]]:
    args = build_parser().parse_args(["chat", "--borrower", str(EXAMPLE), "--today", "2026-11-28", "--json", *extra])
    out = io.StringIO()
    assert chat.run(args, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_promise_conversation_in_chinese() -> None:
    """A real Chinese conversation ends with a promise whose date comes from the injected --today."""
    records = _chat(["是我", "你是机器人吗", "我现在没钱", "可以", "500", "下周五", "对"])
    assert records[0]["role"] == "bot" and records[0]["interruptible"] is False
    borrower_turns = [r for r in records if r.get("role") == "borrower"]
    assert [r["intent"] for r in borrower_turns[:3]] == ["affirm", "ask_caller", "hardship"]
    assert "智能语音助手" in str(records[4]["text"])
    end = records[-1]
    assert end["event"] == "end"
    expected = {"disposition": "promise_to_pay", "ptp_date": "2026-12-04", "ptp_amount": 500.0,
                "callback_at": None, "opt_out": False, "complaint": False,
                "identity_confirmed": True, "turns": 7, "confirmed": True, "completed": True, "hardship": True}
    assert {k: end["outcome"][k] for k in expected} == expected


def test_hang_up_after_a_stated_promise_keeps_it_unconfirmed() -> None:
    """'我后天还三千' then end of input (the borrower hung up before the read-back): promise kept, confirmed false."""
    records = _chat(["是我", "我后天还三千"])
    end = records[-1]
    assert end["action"] == "hung_up"
    outcome = end["outcome"]
    assert (outcome["disposition"], outcome["ptp_date"], outcome["ptp_amount"], outcome["confirmed"],
            outcome["completed"]) == ("promise_to_pay", "2026-11-30", 3000.0, False, False)


def test_hang_up_after_an_already_paid_claim_keeps_it_unverified() -> None:
    """'我昨天已经还了' then a hang-up is stored as already_paid with verified false, not hung_up."""
    records = _chat(["是我", "我昨天已经还了"])
    outcome = records[-1]["outcome"]
    assert (outcome["disposition"], outcome["already_paid"], outcome["verified"]) == ("already_paid", True, False)


def test_end_of_input_is_a_hang_up_and_silence_is_no_input() -> None:
    """`<silence>` is no input; end of stdin mid-call records hung_up."""
    records = _chat(["是我", "<silence>"])
    assert records[-2]["role"] == "bot" and str(records[-2]["text"]).startswith("喂")
    assert records[-1]["action"] == "hung_up" and records[-1]["outcome"]["disposition"] == "hung_up"


def test_forced_script_set_and_stop_calling() -> None:
    """--script overrides the segment's set; '别再打了' opts out."""
    records = _chat(["不要再给我打电话了"], "--script", "pre_due_brief")
    assert records[0]["text"].startswith("您好，示例消费金融来电")
    assert records[-1]["outcome"]["opt_out"] is True


def test_bad_borrower_file_exits_2_with_the_field(tmp_path: Path) -> None:
    """A borrower file with a bad phone is refused with the field named on stderr and exit code 2."""
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({**json.loads(EXAMPLE.read_text(encoding="utf-8")), "phone": "12"}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "server.py", "chat", "--borrower", str(bad)], cwd=REPO,
                          input="", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "'phone'" in proc.stderr and proc.stdout == ""
