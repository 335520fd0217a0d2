"""names.py: fold, name and room rules (PROTOCOL.md §2), scrubbing (§1, DECISIONS #16, #19)."""

from __future__ import annotations

import pytest

from tertulia.protocol.errors import ErrorCode, ProtocolError
from tertulia.protocol.names import (
    MAX_NAME,
    MAX_ROOM,
    clean_text,
    fold,
    scrub,
    validate_name,
    validate_room,
)

# PROTOCOL.md §1, written out independently of the implementation.
NEVER_RELAYED = frozenset(
    chr(c)
    for lo, hi in ((0x00, 0x08), (0x0A, 0x1F), (0x7F, 0x9F), (0x202A, 0x202E), (0x2066, 0x2069))
    for c in range(lo, hi + 1)
)

ALL_CHARS = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


# ------------------------------------------------------------------------- fold


def test_fold_makes_ana_ANA_and_fullwidth_ana_equal() -> None:
    """Ana, ANA and ａｎａ are the same name (PROTOCOL.md §2)."""
    assert fold("Ana") == fold("ANA") == fold("ａｎａ") == fold("ＡＮＡ") == "ana"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Straße", "STRASSE"),
        ("José", "JOSE\u0301"),  # composed vs decomposed
        ("ﬁsh", "FISH"),  # ligature under NFKC
        ("Ωmega", "\u2126MEGA"),  # OHM SIGN is Omega under NFKC
        ("#General", "#GENERAL"),
    ],
)
def test_fold_equates_forms_of_the_same_name(a: str, b: str) -> None:
    """Case, compatibility forms and composition do not make two names differ."""
    assert fold(a) == fold(b)


@pytest.mark.parametrize(("a", "b"), [("ana", "anna"), ("ana", "ana_"), ("a.b", "a-b")])
def test_fold_keeps_different_names_apart(a: str, b: str) -> None:
    """Different names keep different keys."""
    assert fold(a) != fold(b)


def test_fold_is_idempotent_for_every_code_point() -> None:
    """fold(fold(c)) == fold(c) for every single non-surrogate code point."""
    bad = [hex(ord(c)) for c in ALL_CHARS if fold(fold(c)) != fold(c)]
    assert bad == []


@pytest.mark.parametrize("s", ["ǅemal", "ΐ", "ᾈ", "ﬃ", "İstanbul", "ẞ", "ｶﾞ", "e\u0301\u0345", "Ⅻ"])
def test_fold_is_idempotent_on_tricky_strings(s: str) -> None:
    """Strings whose casefold is not NFKC (titlecase, Greek, ligatures) still fold idempotently."""
    assert fold(fold(s)) == fold(s)


# ---------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    [
        "Ana",
        "a",
        "ana_b",
        "a-b.c",
        "a.",
        "a1",
        "a_1-2.3",
        "José",
        "Jose\u0301",  # combining mark, not first
        "Ωμέγα",
        "Дмитрий",
        "李小龙",
        "محمد",
        "नमस्ते",  # Devanagari with combining marks
        "ａｎａ",  # fullwidth: NFKC form is "ana"
        "a١٢",  # Arabic-Indic digits are Nd
        "x" * MAX_NAME,
        "e\u0301" * MAX_NAME,  # 64 code points typed, 32 after NFKC
    ],
)
def test_valid_names_are_returned_as_typed(name: str) -> None:
    """Letters of any script, digits, marks (not first), '_', '-', '.': accepted unchanged."""
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1ana",  # digit first
        "١ana",  # Arabic-Indic digit first
        "_ana",
        "-ana",
        ".ana",
        "\u0301ana",  # combining mark first
        "x" * (MAX_NAME + 1),
        "ﬁ" * 17,  # 17 typed, 34 after NFKC
        "a b",
        " ana",
        "ana ",
        "a\tb",
        "a\u00a0b",  # NBSP is a space under NFKC
        "a\u3000b",  # ideographic space
        "a\x00b",
        "a\x1bb",
        "a\x7fb",
        "a\x85b",
        "a\u202eb",  # RIGHT-TO-LEFT OVERRIDE
        "a\u2066b",  # LEFT-TO-RIGHT ISOLATE
        "a\u200fb",  # RIGHT-TO-LEFT MARK (Cf)
        "a\u200bb",  # ZERO WIDTH SPACE
        "a\u2028b",
        "ana😀",
        "😀",
        "a@b",
        "a#b",
        "#ana",
        "a/b",
        "a,b",
        "a:b",
        "a*b",
        "a<b",
        "Ⅻx\u16ee",  # RUNIC ARLAUG SYMBOL is Nl, not a letter or Nd
    ],
)
def test_invalid_names_are_refused(name: str) -> None:
    """Anything outside the §2 alphabet, a bad first character or over 32 chars is INVALID_NAME."""
    with pytest.raises(ProtocolError) as err:
        validate_name(name)
    assert err.value.code is ErrorCode.INVALID_NAME
    assert err.value.message


def test_name_rules_apply_to_the_nfkc_form() -> None:
    """Compatibility characters are judged by their NFKC form (² is 2, ｱ is ア)."""
    assert validate_name("a²") == "a²"
    assert validate_name("ｱｲｳ") == "ｱｲｳ"
    with pytest.raises(ProtocolError):
        validate_name("²a")  # NFKC "2a": a digit first


def test_every_never_relayed_character_is_refused_in_a_name() -> None:
    """No character of PROTOCOL.md §1 is allowed anywhere in a name."""
    for ch in sorted(NEVER_RELAYED):
        with pytest.raises(ProtocolError):
            validate_name("a" + ch + "b")


# ---------------------------------------------------------------------- rooms


@pytest.mark.parametrize(
    "room",
    [
        "#general",
        "#General",
        "#a",
        "#1",
        "#2024-events",
        "#a_b.c-d",
        "#café",
        "#cafe\u0301",
        "#чат",
        "#聊天",
        "#ａｎａ",
        "#" + "x" * MAX_ROOM,
        "#" + "e\u0301" * MAX_ROOM,  # 100 code points typed, 50 after NFKC
    ],
)
def test_valid_rooms_are_returned_as_typed(room: str) -> None:
    """'#' then 1-50 name characters, a digit may come first: accepted unchanged."""
    assert validate_room(room) == room


@pytest.mark.parametrize(
    "room",
    [
        "",
        "#",
        "general",
        "ana",
        "＃general",  # fullwidth number sign is not '#'
        " #general",
        "##general",
        "#a#b",
        "#" + "x" * (MAX_ROOM + 1),
        "#" + "ﬁ" * 26,  # 26 typed, 52 after NFKC
        "#\u0301a",  # combining mark first
        "#a b",
        "# a",
        "#a\t",
        "#a\x07",
        "#a\x1b[2J",
        "#a\u202e",
        "#a\u2069",
        "#😀",
        "#a,b",
        "#a:b",
        "#a/b",
    ],
)
def test_invalid_rooms_are_refused(room: str) -> None:
    """No '#', wrong length, a mark first or a refused character is INVALID_ROOM."""
    with pytest.raises(ProtocolError) as err:
        validate_room(room)
    assert err.value.code is ErrorCode.INVALID_ROOM


def test_rooms_fold_like_names() -> None:
    """Rooms compare as names do: #General, #GENERAL and #ｇｅｎｅｒａｌ are one room."""
    assert fold("#General") == fold("#GENERAL") == fold("#ｇｅｎｅｒａｌ") == "#general"


# ---------------------------------------------------------------------- scrub


def test_scrub_removes_exactly_the_never_relayed_characters() -> None:
    """Over every code point, scrub removes precisely the §1 set and keeps the rest in order."""
    out = scrub(ALL_CHARS)
    assert set(ALL_CHARS) - set(out) == NEVER_RELAYED
    assert out == "".join(c for c in ALL_CHARS if c not in NEVER_RELAYED)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("hola", "hola"),
        ("", ""),
        ("a\tb", "a\tb"),  # TAB is kept (DECISIONS #19)
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),
        ("\x9b31m", "31m"),  # C1 CSI
        ("a\r\nb", "ab"),
        ("\u202eevil\u202c", "evil"),
        ("\u2067x\u2069", "x"),
        ("a\u200fb", "a\u200fb"),  # RLM is not in the §1 list
        ("a\u2028b", "a\u2028b"),  # nor LINE SEPARATOR
        ("ñandú 😀", "ñandú 😀"),
    ],
)
def test_scrub_examples(raw: str, clean: str) -> None:
    """Controls and bidi overrides go, TAB and everything else stays."""
    assert scrub(raw) == clean


def test_clean_text_refuses_text_empty_after_scrub() -> None:
    """A text that is only never-relayed characters is BAD_ARGUMENT (§1)."""
    for text in ("", "\x1b", "\x00\x07\x1b\x7f\x9b\u202e\u2066\r\n"):
        with pytest.raises(ProtocolError) as err:
            clean_text(text)
        assert err.value.code is ErrorCode.BAD_ARGUMENT


def test_clean_text_keeps_spaces_and_tabs() -> None:
    """A text of only spaces or tabs is still a text (DECISIONS #16, #19)."""
    assert clean_text("   ") == "   "
    assert clean_text("\t") == "\t"
    assert clean_text("a\x1b[1mb") == "a[1mb"
