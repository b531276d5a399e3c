"""server.py's command line: a SIP Call-ID that begins with "-" is still a call id for `replay`."""

from __future__ import annotations

import pytest

import server

DASH_ID = "-V8InXpEzMGjMN82SadLS-NVJlfx2DOR"  # a real pjsip Call-ID shape (base64url alphabet)


def test_replay_takes_a_call_id_that_begins_with_a_dash() -> None:
    args = server.parse_args(["replay", DASH_ID, "--store", "calls.sqlite3", "--json"])
    assert (args.target, str(args.store), args.json) == (DASH_ID, "calls.sqlite3", True)


@pytest.mark.parametrize("argv", [
    ["replay", "call-1", DASH_ID],  # the positional is taken already
    ["replay", DASH_ID, "-Vextra"],  # two strays
    ["replay", "--unknown-flag"],  # a long option is never a call id
    ["serve", DASH_ID],  # serve has no positional
])
def test_a_stray_dash_argument_is_still_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        server.parse_args(argv)
    assert exit_.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
