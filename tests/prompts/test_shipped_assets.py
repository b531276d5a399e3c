"""The recordings shipped in audio_assets/ match the script library the server loads."""

from __future__ import annotations

import datetime as dt

from prompt_fakes import FakeTts

from config.prompts_config import DEFAULT_MANIFEST, PromptSettings
from dialogue.borrower import Borrower
from dialogue.render import prompt_for
from dialogue.scripts import SLOT_NAMES, load_script_library
from prompts.assets import AssetLibrary, read_manifest
from prompts.cache import RenderCache
from prompts.renderer import PromptRenderer
from prompts.shaping import speech_level_dbfs, to_float
from prompts.warmup import borrower_variables, fixed_fragment_ids, prerender_script_sets

BORROWER = Borrower.from_dict({
    "id": "B1", "name": "张伟", "gender": "male", "phone": "13800138000", "amount_due": 3200.5,
    "overdue_days": 12, "due_date": "2026-11-16", "product": "信用贷", "creditor": "示例消费金融",
    "risk_score": 620, "mediator": "示例调解中心", "mediator_phone": "400-820-1234",  # for the mediation notice set
})


def test_manifest_covers_exactly_the_fragment_catalogue() -> None:
    """Every fragment has a recording of its current text and no recording is left over."""
    library = load_script_library()
    assets = AssetLibrary.load(DEFAULT_MANIFEST, library.fragments)
    assert set(assets.recordings) == set(library.fragments)
    assert all(r.rate in (8000, 16000) for r in assets.recordings.values())
    assert {e.text for e in read_manifest(DEFAULT_MANIFEST).values()} == set(library.fragments.values())


def test_every_script_set_renders_every_node_for_a_borrower() -> None:
    """Warm-up covers what a call needs: after prerender + prepare every node's prompt renders warm."""
    library = load_script_library()
    renderer = PromptRenderer(AssetLibrary.load(DEFAULT_MANIFEST), FakeTts(), RenderCache(64 << 20), PromptSettings())
    set_ids = sorted(library.script_sets)
    renderer.prerender(sorted(fixed_fragment_ids(library, set_ids)), 8000)
    today = dt.date(2026, 11, 28)
    checked = 0
    for set_id in set_ids:
        renderer.prepare(borrower_variables(library, set_id, BORROWER, today), 8000)
        for need in library.prompt_needs(set_id):
            if set(need.variables) & set(SLOT_NAMES):
                continue  # said only after the borrower names them
            prompt = prompt_for(library, set_id, need.node, BORROWER, today)
            assert renderer.is_warm(prompt, 8000), (set_id, need.node)
            out = renderer.render(prompt, 8000)
            assert out.variables_synthesized == 0 and len(out.samples) > 0
            checked += 1
    assert checked > 100


def test_campaign_prerender_makes_promise_date_confirmations_warm() -> None:
    """With `today`, campaign pre-rendering covers the dates a borrower may name in the next weeks, so
    confirming a promise of the full amount or a callback date needs no TTS."""
    library = load_script_library()
    renderer = PromptRenderer(AssetLibrary.load(DEFAULT_MANIFEST), FakeTts(), RenderCache(64 << 20), PromptSettings())
    today = dt.date(2026, 11, 28)
    set_ids = sorted(library.script_sets)
    made = prerender_script_sets(renderer, library, set_ids, 8000, today=today, date_days=30)
    assert made == len(fixed_fragment_ids(library, set_ids)) + 31
    slots = {"ptp_date": today + dt.timedelta(days=7), "callback_at": today + dt.timedelta(days=2),
             "ptp_amount": BORROWER.amount_due}
    confirmations = [
        (set_id, need.node)
        for set_id in set_ids
        for need in library.prompt_needs(set_id)
        if {"ptp_date", "callback_at"} & set(need.variables)
    ]
    assert confirmations, "the scripts should confirm promise or callback dates somewhere"
    for set_id, node in confirmations:
        renderer.prepare(borrower_variables(library, set_id, BORROWER, today), 8000)
        prompt = prompt_for(library, set_id, node, BORROWER, today, slots=slots)
        assert renderer.is_warm(prompt, 8000), (set_id, node)


def test_every_shipped_fragment_comes_out_at_the_target_level() -> None:
    """Each recording, as prepared for an 8 kHz call, sits within 1 dB of the configured speech level."""
    settings = PromptSettings()
    renderer = PromptRenderer(AssetLibrary.load(DEFAULT_MANIFEST), FakeTts(), RenderCache(1 << 20), settings)
    for frag_id, rec in renderer.assets.recordings.items():
        audio = renderer.fragment_audio(frag_id, 8000)
        if not rec.samples.any():
            continue  # punctuation-only fragment: silence by design
        level = speech_level_dbfs(to_float(audio), 8000)
        assert abs(level - settings.target_dbfs) <= 1.0, (frag_id, level)
