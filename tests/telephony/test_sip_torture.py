"""RFC 4475 / RFC 5118 style torture messages against a SipEndpoint in its own process, over UDP and TCP.

After every message: the expected answer (or none, where pjsip drops and that is acceptable, see
index.toml), OPTIONS still answered 200, every call slot free, and no phone number unmasked in the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torture

pytestmark = pytest.mark.integration

CASES = torture.load_index()
DOC = torture.ROOT / "docs" / "robustness.md"


@pytest.fixture(scope="module", params=["udp", "tcp"])
def sip_process(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        torture.EndpointProcess]:
    log = Path(tmp_path_factory.mktemp(f"torture-{request.param}")) / "endpoint.log"
    process = torture.EndpointProcess(request.param, log)
    try:
        yield process
    finally:
        assert process.stop() == 0


def test_index_covers_every_fixture_file() -> None:
    """Every message file has an index entry and every entry a file, so a new message cannot go untested."""
    files = {p.name for p in torture.CORPUS.glob("*.sip")}
    assert files == {c.file for c in CASES}
    assert len(CASES) == len(files)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.file.removesuffix(".sip"))
def test_torture_message(sip_process: torture.EndpointProcess, case: torture.Case) -> None:
    """The answer is the indexed one, and afterwards OPTIONS works, no slot is held, no number is logged raw."""
    got = torture.outcome(torture.send(case.file, sip_process.port, sip_process.transport))
    assert got == tuple(sorted(case.expected(sip_process.transport))), case.tests
    assert torture.outcome(torture.send("options_baseline.sip", sip_process.port, sip_process.transport,
                                        wait_s=2.0, until="200")) == ("200",)
    slots = sip_process.free_slots_settled()
    assert slots["free_call_slots"] == sip_process.max_calls and slots["active_calls"] == 0
    text = sip_process.log_path.read_text(encoding="utf-8")
    leaked = [n for n in torture.PHONE_NUMBERS if n in text]
    assert not leaked, f"unmasked in the endpoint log: {leaked}"


def test_pjsip_dumps_reached_the_masker(sip_process: torture.EndpointProcess) -> None:
    """The log did carry pjsip's packet dumps with the corpus's numbers, masked: the leak check above can fail."""
    for case in CASES:
        if case.file == "insuf_missing_mandatory_headers.sip":
            torture.send(case.file, sip_process.port, sip_process.transport, wait_s=0.3)
    text = sip_process.log_path.read_text(encoding="utf-8")
    assert "138****8000" in text and "end of packet" in text


def test_docs_table_matches_the_index() -> None:
    """docs/robustness.md holds the table generated from index.toml (`python tests/telephony/torture.py`)."""
    assert torture.markdown_table(CASES) in DOC.read_text(encoding="utf-8")
