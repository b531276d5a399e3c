"""The cluster tests reuse the harnesses of two other folders: `serve` and its store (tests/campaign) and
Kamailio and sipp (tests/telephony); their folders go on sys.path as pytest puts a test's own folder there."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in ("campaign", "telephony"):
    if str(TESTS / folder) not in sys.path:
        sys.path.append(str(TESTS / folder))
