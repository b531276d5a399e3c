"""The AMP commands between coordinator and call worker: typed fields, JSON borrower, record round trip."""

from __future__ import annotations

import pytest
from fakes import record
from twisted.protocols import amp

from telephony.dispositions import CallTimings, DialFailure
from workers.protocol import JsonObject, PlaceCall, answered_reply, failure_reply, record_from_reply


def test_place_call_box_round_trips_borrower_json_and_optional_fields() -> None:
    """A PlaceCall encodes to AMP strings and back unchanged (Chinese text included); absent optionals stay absent."""
    borrower = {"id": "K1", "name": "张伟", "amount_due": 1000.5, "nested": {"a": [1, 2]}}
    box = PlaceCall.makeArguments({"attempt_id": "att-1", "target": "+8613800130001", "borrower": borrower,
                                   "max_seconds": 300.0}, None)
    assert b"borrower" in box and b"trunk" not in box
    parsed = PlaceCall.parseArguments(box, None)
    assert parsed["borrower"] == borrower and parsed["max_seconds"] == 300.0 and parsed.get("trunk") is None


def test_json_object_refuses_anything_but_an_object() -> None:
    """A list or a bare string is not a borrower: refused on encode and on decode."""
    arg = JsonObject()
    with pytest.raises(TypeError):
        arg.toString(["K1"])
    with pytest.raises(ValueError, match="JSON object"):
        arg.fromString(b'["K1"]')


def test_answered_reply_gives_back_the_same_call_record() -> None:
    """CallRecord -> reply -> AMP box -> reply -> CallRecord is the identity (turns included)."""
    original = record("att-7")
    box = amp._objectsToStrings(answered_reply(original), PlaceCall.response, amp.Box(), None)
    back = amp._stringsToObjects(box, PlaceCall.response, None)
    assert record_from_reply(back) == original


def test_unanswered_reply_raises_the_dial_failure_with_its_timings() -> None:
    """A busy dial crosses as fields and is raised again as DialFailure, as SipEndpoint.dial fails."""
    failure = DialFailure("busy", 486, "Busy Here", call_id="c-1", timings=CallTimings(10.0, 10.5, None, 12.0))
    box = amp._objectsToStrings(failure_reply(failure), PlaceCall.response, amp.Box(), None)
    with pytest.raises(DialFailure) as raised:
        record_from_reply(amp._stringsToObjects(box, PlaceCall.response, None))
    assert (raised.value.disposition, raised.value.sip_code, raised.value.reason) == ("busy", 486, "Busy Here")
    assert raised.value.call_id == "c-1" and raised.value.timings == CallTimings(10.0, 10.5, None, 12.0)


def test_partial_recording_of_a_killed_worker_is_made_playable(tmp_path: object) -> None:
    """A WAV whose writer died (sizes 0 in the header) declares the audio it holds after repair; junk is refused."""
    import struct
    import wave
    from pathlib import Path

    from workers.recordings import repair_wav_sizes

    path = Path(str(tmp_path)) / "partial.wav"
    header = b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 8000, 32000, 4, 16)
    path.write_bytes(header + b"data" + struct.pack("<I", 0) + b"\x01\x00" * 2 * 8000 + b"\x07")  # 1 s + a stray byte
    assert repair_wav_sizes(path) == 32000
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getnframes()) == (2, 8000)
    junk = Path(str(tmp_path)) / "junk.wav"
    junk.write_bytes(b"not a wav at all")
    with pytest.raises(ValueError, match="not a RIFF"):
        repair_wav_sizes(junk)
