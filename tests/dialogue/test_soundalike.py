"""Recognizer errors read by sound: misheard domain words for the intent classifier, misheard numerals and
date words for the slot parser (dialogue/soundalike.py, dialogue/data/asr_tolerance.toml).

The sentences here are written for these tests from the tables' own rules; none comes from the measured
sets (natural*.jsonl, the slot cases of test_slots.py), which stay held out for bench/asr_in_the_loop.py.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from config.errors import ConfigError
from dialogue.intents import IntentClassifier
from dialogue.intents.data import DEV_PATH, read_jsonl, read_label_files
from dialogue.intents.features import normalize
from dialogue.slots import extract_slots, read_heard
from dialogue.soundalike import (
    DEFAULT_TOLERANCE_PATH,
    Keyword,
    SoundAlike,
    SoundFolds,
    default_tolerance,
    load_tolerance,
)

SAT = datetime.date(2026, 11, 28)


@pytest.fixture(scope="module")
def tolerant() -> IntentClassifier:
    return IntentClassifier.load()


@pytest.fixture(scope="module")
def literal() -> IntentClassifier:
    return IntentClassifier.load(tolerance=False)


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("我换不了", "我还不了"),  # huan: exchange for repay
        ("帮我转仁公", "帮我转人工"),  # two sound-alikes in one word
        ("我在开惠呢", "我在开会呢"),
        ("你们是几期人吗", "你们是机器人吗"),
        ("我不认时你说的人", "我不认识你说的人"),  # shi for shi with the retroflex kept
        ("能不能宽县几天", "能不能宽限几天"),  # xian for xian
        ("我银行咔里没钱", "我银行卡里没钱"),
        ("我们還没錢", "我们还没钱"),  # traditional forms
    ],
)
def test_misheard_domain_words_are_read_as_said(tolerant: IntentClassifier, literal: IntentClassifier,
                                               heard: str, meant: str) -> None:
    """A run that sounds like a domain word the model never saw spelled that way is read as the word."""
    assert tolerant.read(heard) == normalize(meant)
    assert literal.read(heard) == normalize(heard)


@pytest.mark.parametrize(
    ("heard", "intent"),
    [("我换不了", "hardship"), ("你们几期人", "ask_caller"), ("机期人", "ask_caller"), ("领到呢", "request_agent")],
)
def test_sound_reading_changes_the_intent_where_letters_alone_fail(
    tolerant: IntentClassifier, literal: IntentClassifier, heard: str, intent: str
) -> None:
    """These recognizer errors cost the literal classifier the intent; read by sound they keep it."""
    assert literal.classify(heard).intent != intent
    assert tolerant.classify(heard).intent == intent


def test_retroflex_and_nasal_folds_make_near_homophones_match() -> None:
    """zh/z and ing/in are one sound after the folds of [sound]; without folds they stay apart."""
    word = [Keyword("支付宝")]
    folded = SoundAlike(word, default_tolerance().folds)
    plain = SoundAlike(word, SoundFolds())
    assert folded.repair("用资付宝") == "用支付宝"
    assert plain.repair("用资付宝") == "用资付宝"
    assert SoundAlike([Keyword("手头紧")], default_tolerance().folds).repair("手头近") == "手头紧"


def test_text_the_model_knows_is_never_rewritten(tolerant: IntentClassifier) -> None:
    """No training or dev reply changes when read by sound: known n-grams keep their spelling, so the clean
    accuracy cannot move (the homophones written into the training files stay as they are)."""
    texts = [e.text for e in read_label_files()] + [e.text for e in read_jsonl(DEV_PATH)]
    changed = [t for t in texts if tolerant.read(t) != normalize(t)]
    assert len(texts) > 4000 and changed == []


def test_polyphones_take_their_common_reading_only() -> None:
    """pypinyin's rare readings would make unrelated runs sound alike: the zui of "lowest" has a literary
    cuo, which would turn "wrong place" into "lowest"."""
    alike = SoundAlike([Keyword("最低")], default_tolerance().folds)
    assert alike.repair("找错地方") == "找错地方"
    assert alike.repair("醉低") == "最低"


def test_given_reading_overrides_pypinyin() -> None:
    """pypinyin reads the word for repayment as hai kuan; the tables say huan kuan, so exchange-kuan matches."""
    folds = default_tolerance().folds
    assert SoundAlike([Keyword("还款")], folds).repair("换款") == "换款"
    assert SoundAlike([Keyword.parse("还款:huan kuan")], folds).repair("换款") == "还款"


# --------------------------------------------------------------------------- slots


@pytest.mark.parametrize(
    ("heard", "date", "amount"),
    [
        ("下个月五好还三千快", "2026-12-05", 3000),  # hao: good for the day suffix; kuai: fast for the currency
        ("十八好之前还", "2026-12-18", None),
        ("先还两完", None, 20000),  # wan: finished for ten thousand
        ("还三前五块", None, 3500),  # qian: before for thousand
        ("还五白块", None, 500),
        ("二是号还", "2026-12-20", None),  # shi: is for ten
        ("还四时块", None, 40),
        ("金天晚上还", "2026-11-28", None),  # jin tian: date word by sound
        ("下州五还一千", "2026-12-04", 1000),
        ("候天还八百", "2026-11-30", 800),
    ],
)
def test_misheard_numerals_and_date_words_give_the_slots(heard: str, date: str | None, amount: float | None) -> None:
    """Each of these loses its date or amount when read letter by letter; the [slots] tables restore it."""
    slots = extract_slots(heard, SAT)
    assert (slots.date, slots.amount) == (datetime.date.fromisoformat(date) if date else None, amount)
    assert read_heard(heard) != heard


@pytest.mark.parametrize(
    ("text", "date", "amount"),
    [
        ("先还一百好吗", None, 100),  # hao after a hundred is "good", not a day
        ("还五千好不好", None, 5000),
        ("周五好吗", "2026-12-04", None),  # after a weekday it is "good" too
        ("周五晚上还", "2026-12-04", None),  # wan after a digit but before shang: evening, not 50000
        ("我一是没钱", None, None),  # shi after one with nothing numeric after it
        ("快点还", None, None),
    ],
)
def test_numeral_rules_need_a_numeral_context(text: str, date: str | None, amount: float | None) -> None:
    """The same characters in ordinary use keep their meaning."""
    slots = extract_slots(text, SAT)
    assert (slots.date, slots.amount) == (datetime.date.fromisoformat(date) if date else None, amount)
    assert read_heard(text) == text


# --------------------------------------------------------------------------- the tables file


def _write(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_TOLERANCE_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "asr_tolerance.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('"还钱",', '"钱",', "intents.keywords"),  # one character
        ('"还钱",', '"还钱:huan",', "intents.keywords"),  # reading of the wrong length
        ('currency = ["快", "筷"]', 'currency = ["快", "好"]', "slots.currency"),  # in two tables
        ('"還" = "还"', '"還" = "还还"', "characters.variants.還"),
        ('[sound]', '[sound]\nspeed = 1', "sound.speed"),  # a typo is refused, not ignored
        ('ang = "an"', 'ang = "安"', "sound.finals.ang"),
    ],
)
def test_bad_tables_file_names_the_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    """A broken edit stops loading with the file, the key and what was expected."""
    path = _write(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_tolerance(path)
    assert str(path) in str(caught.value) and key in str(caught.value)


def test_units_table_must_name_units(tmp_path: Path) -> None:
    """slots.units maps to a numeral unit; anything else is refused by the slot parser that uses it."""
    spec = load_tolerance(_write(tmp_path, '"完" = "万"', '"完" = "好"'))
    with pytest.raises(ConfigError, match=r"slots\.units\.完"):
        read_heard("还两完", spec)


def test_shipped_tables_load() -> None:
    """The shipped file loads and every keyword reads as itself."""
    spec = load_tolerance()
    alike = SoundAlike(spec.intent_keywords, spec.folds)
    assert all(alike.repair(k.word) == k.word for k in spec.intent_keywords)
