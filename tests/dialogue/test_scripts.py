"""Script library loading: the shipped scale, distinct content, prompt listing, and precise load errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from dialogue_fakes import TODAY, library_variant, make_borrower

from config.errors import ConfigError
from dialogue.prompt import Fragment, Variable
from dialogue.render import prompt_for
from dialogue.scripts import ScriptLibrary, load_script_library

NOTICE_SETS = {"mediation_notice"}  # not collection scripts: notices for cases outside phone collection
INBOUND_SETS = {"inbound_callback"}  # answers borrowers calling back (issue 14), not one of the 18 outbound sets


def test_scale_and_distinctness(library: ScriptLibrary) -> None:
    """At least 36 scenes and exactly 18 outbound collection script sets (plus the mediation notice set, issue 13,
    and the inbound set, issue 14), each set differing from every other in flow or wording."""
    assert set(library.script_sets) >= NOTICE_SETS | INBOUND_SETS
    assert {s.id for s in library.script_sets.values() if s.direction == "inbound"} == INBOUND_SETS
    collection = [s for s in library.script_sets.values() if s.id not in NOTICE_SETS | INBOUND_SETS]
    assert len(library.scenes) >= 36 and len(collection) == 18
    signatures = {(s.start, tuple(sorted(s.exits.items())), tuple(sorted(s.wording.items())))
                  for s in library.script_sets.values()}
    assert len(signatures) == 18 + len(NOTICE_SETS) + len(INBOUND_SETS)
    titles = [s.title for s in library.scenes.values()]
    assert len(set(titles)) == len(titles)


def test_no_chinese_prompt_text_in_code() -> None:
    """Prompt text lives in data: no module of the dialogue package (intents/slots excepted) holds CJK text."""
    root = Path(__file__).resolve().parents[2] / "dialogue"
    for module in root.glob("*.py"):
        if module.name in ("intents.py", "slots.py"):
            continue
        text = module.read_text(encoding="utf-8")
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in text), module.name


def test_prompt_for_builds_the_exact_prompt(library: ScriptLibrary) -> None:
    """prompt_for renders one node with the borrower's values, set wording and typed variables."""
    borrower = make_borrower(gender="female", name="李娜", overdue_days=0, due_date="2026-12-05")
    prompt = prompt_for(library, "pre_due_courteous", "notice_pre_due/tell", borrower, TODAY)
    assert prompt.node == "notice_pre_due/tell" and prompt.interruptible
    assert prompt.text.endswith(library.fragments["nt_pre_due_e_courteous"])
    amount = next(p for p in prompt.parts if isinstance(p, Variable) and p.name == "amount")
    assert (amount.value, amount.kind, amount.display_text) == (3200.0, "money", "3200")
    due = next(p for p in prompt.parts if isinstance(p, Variable) and p.name == "due_date")
    assert due.kind == "date" and due.display_text == "12月5日"
    honorific = prompt_for(library, "pre_due_courteous", "identity_courteous/ask", borrower, TODAY,
                                   identity_confirmed=False)
    assert "李女士" in honorific.text
    with pytest.raises(KeyError, match="no node"):
        prompt_for(library, "pre_due_courteous", "notice_pre_due/nope", borrower, TODAY)


def test_prompt_needs_lists_fixed_and_variable_prompts(library: ScriptLibrary) -> None:
    """prompt_needs lists every prompt (and re-ask wording) of a set; fixed ones need no variables."""
    needs = library.prompt_needs("first_overdue_firm")
    notice = [n for n in needs if n.node == "notice_first_overdue/tell"]
    assert [n.items for n in notice][1] == ("nt_reask_today",) and notice[1].variables == ()
    assert "nt_overdue_d_firm" in notice[0].items
    assert set(notice[0].variables) == {"product", "overdue_days", "amount"}
    assert next(n for n in needs if n.node == "repeat_request/again").variables == ()
    assert "notice_pre_due/tell" not in {n.node for n in needs}  # not reachable in this set
    assert all(isinstance(library.fragment(i), Fragment) for n in needs for i in n.items if not i.startswith("{"))


@pytest.mark.parametrize(("file", "edit", "key"), [
    ("fragments.toml", ('cl_thanks = "', 'cl_thanks = "{name}'), "fragments.cl_thanks"),
    ("scenes/service.toml", ('prompt = ["cl_thanks"]', 'prompt = ["no_such_fragment"]'),
     "scenes.closing_auto.nodes.bye.prompt"),
    ("scenes/service.toml", ('prompt = ["rp_again"]', 'prompt = ["rp_again", "{salary}"]'), "prompt"),
    ("scenes/contacts.toml", ('end = "wrong_number"', 'end = "vanished"'), "end"),
    ("scenes/contacts.toml", ('end = "wrong_number"', 'end = "wrong_number"\nretry = 2'), "retry"),
    ("scenes/identity.toml", ('deny = "who"', 'deny = "whom"'), "on.deny"),
    ("sets/pre_due_gentle.toml", ('identified = "notice_pre_due"', 'identified = "notice_nowhere"'),
     "exits.identified"),
    ("sets/pre_due_gentle.toml", ('id = "pre_due_gentle"', 'id = "renamed"'), "id"),
    ("library.toml", ('repeat = "repeat_request"\n', ''), "handlers.repeat"),
    ("compliance.toml", ('recording_notice = "本次通话将被录音"', 'recording_notice = 5'), "recording_notice"),
])
def test_bad_file_names_file_and_key(tmp_path: Path, file: str, edit: tuple[str, str], key: str) -> None:
    """Each kind of mistake raises ConfigError naming the file and the dotted key."""
    root = library_variant(tmp_path, {file: [edit]})
    with pytest.raises(ConfigError) as err:
        load_script_library(root)
    assert err.value.file.name == Path(file).name and key in err.value.key, str(err.value)


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    """Pointing at a folder that does not exist says what the folder should contain."""
    with pytest.raises(ConfigError, match=r"fragments\.toml"):
        load_script_library(tmp_path / "nope")


def test_intent_labels_match_the_classifier() -> None:
    """Scripts accept exactly the labels the intent classifier can produce."""
    from dialogue.intents import INTENTS
    from dialogue.scripts import INTENT_LABELS

    assert tuple(INTENT_LABELS) == tuple(INTENTS)


def test_handler_naming_an_unknown_exit_is_refused(tmp_path: Path) -> None:
    """A script set handler pointing at an exit nobody defined fails at load, not mid-call."""
    edit = ("[exits]", '[handlers]\nbusy = "@nowhere"\n\n[exits]')
    root = library_variant(tmp_path, {"sets/pre_due_gentle.toml": [edit]})
    with pytest.raises(ConfigError, match=r"handlers\.busy"):
        load_script_library(root)


def test_honorific_uses_compound_surnames_from_data(library: ScriptLibrary) -> None:
    """欧阳娜 (female) is addressed as 欧阳女士 and 张伟 (male) as 张先生; unknown gender uses the full name."""
    def ask(**changes: object) -> str:
        return prompt_for(library, "pre_due_courteous", "identity_courteous/ask", make_borrower(**changes), TODAY,
                                  identity_confirmed=False).text

    assert "欧阳女士" in ask(name="欧阳娜", gender="female")
    assert "张先生" in ask()
    assert "请问是张伟本人" in ask(gender="unknown")
