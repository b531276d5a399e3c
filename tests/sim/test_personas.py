"""The persona book and the number map: what ships is complete, and bad files fail with file + key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from sim.personas import choose_persona, load_number_map, load_personas

REQUIRED = {
    "cooperative_promise", "already_paid", "hardship", "negotiation", "third_party", "wrong_number",
    "angry_complaint", "stop_calling", "silent", "interrupter", "busy_callback", "voicemail",
}
ROOT = Path(__file__).resolve().parents[2]


def test_shipped_book_has_every_required_persona() -> None:
    """The shipped personas.toml loads and covers all twelve conversational personas of the issue."""
    book = load_personas()
    assert set(book.personas) >= REQUIRED
    assert book.get("silent").lines == ()
    assert book.get("interrupter").lines[1].when == "during_bot"
    assert book.get("voicemail").lines[0].when == "on_answer"
    assert len(book.get("voicemail").lines[0].text) >= 40  # long enough to talk for many seconds
    assert book.reply_gap_ms[0] >= 300 and book.reply_gap_ms[1] <= 500  # > the bot's sentence pauses


def test_demo_number_map_points_at_known_personas() -> None:
    """config/demo/sim_numbers.toml maps every demo number to a persona that exists."""
    book = load_personas()
    numbers = load_number_map(ROOT / "config/demo/sim_numbers.toml", book)
    assert len(numbers) >= 12
    assert set(numbers.values()) >= REQUIRED


def test_choose_persona_by_number_then_by_name() -> None:
    """A mapped number wins; a user part naming a persona works; anything else is no persona."""
    book = load_personas()
    numbers = {"13900000001": "hardship"}
    assert choose_persona("13900000001", book, numbers).name == "hardship"  # type: ignore[union-attr]
    assert choose_persona("+8613900000001", book, numbers).name == "hardship"  # type: ignore[union-attr]
    assert choose_persona("silent", book, numbers).name == "silent"  # type: ignore[union-attr]
    assert choose_persona("13999999999", book, numbers) is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "personas.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[[personas]]\nname = "a"\nlines = [{ text = "x", when = "sometime" }]\n', "personas[0].lines[0].when"),
        ('[[personas]]\nname = "a"\nlines = [{ text = "  " }]\n', "personas[0].lines[0].text"),
        ('[[personas]]\nname = "a"\n', "personas[0].lines"),
        ('[[personas]]\nname = "a b"\nlines = []\n', "personas[0].name"),
        ('[[personas]]\nname = "a"\nanswer = "busy"\nlines = [{ text = "x" }]\n', "personas[0].lines"),
        ('[[personas]]\nname = "a"\nlines = []\n[[personas]]\nname = "a"\nlines = []\n', "personas[1].name"),
        ('[defaults]\nreply_gap_ms = [400, 200]\n[[personas]]\nname = "a"\nlines = []\n', "defaults.reply_gap_ms"),
        ('[[personas]]\nname = "a"\nlines = []\nmood = "sad"\n', "personas[0].mood"),
    ],
)
def test_bad_persona_file_names_file_and_key(tmp_path: Path, body: str, key: str) -> None:
    """Each kind of mistake is refused with the file and the dotted key that is wrong."""
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_personas(path)
    assert info.value.key == key
    assert info.value.file == path


def test_number_map_refuses_unknown_persona(tmp_path: Path) -> None:
    """A number mapped to a persona that does not exist is a start-up error naming the number."""
    book = load_personas()
    path = tmp_path / "numbers.toml"
    path.write_text('[numbers]\n"13900000001" = "chatty"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_number_map(path, book)
    assert info.value.key == "numbers.13900000001"
