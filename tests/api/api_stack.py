"""The API test stack: campaign fakes on a Clock behind the real HTTP site.

Puts tests/campaign on sys.path so the campaign fakes are shared, not copied.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "campaign"))

from api_harness import HttpClient
from campaign_fakes import FakePlacer, FakeRunner
from twisted.internet.task import Clock

from api.app import VoicebotApp

TOKEN = "test-token-0123456789abcdef"


@dataclass
class ApiStack:
    app: VoicebotApp
    clock: Clock
    placer: FakePlacer
    runner: FakeRunner
    http: HttpClient


