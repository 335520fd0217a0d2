"""Names and rooms that could pass for others are refused: invisible characters, mixed scripts."""

from __future__ import annotations

import pytest

from tertulia.protocol.errors import ErrorCode, ProtocolError
from tertulia.protocol.names import validate_name, validate_room


@pytest.mark.parametrize(
    "name",
    [
        "Ana\u034f",  # combining grapheme joiner: a mark that shows nothing
        "Ana\ufe0f",  # variation selector
        "\u3164",  # Hangul filler: a "letter" that shows nothing
        "A\u3164na",
        "\uffa0x",  # halfwidth Hangul filler
        "\u0410na",  # Cyrillic А then Latin "na"
        "Ana\u0430",  # Latin then Cyrillic а
        "\u03bfmar",  # Greek omicron then Latin
        "Ana\u200b",  # zero-width space (a format character)
        "Ana\u200d",  # zero-width joiner
        "Ana\u00ad",  # soft hyphen
    ],
)
def test_lookalike_names_are_refused(name: str) -> None:
    with pytest.raises(ProtocolError) as err:
        validate_name(name)
    assert err.value.code is ErrorCode.INVALID_NAME


@pytest.mark.parametrize(
    "name",
    ["Ana", "Анна", "Σωκράτης", "José", "ａｎａ", "李小龙", "山田たろう", "Zoë", "Ana_2", "ñandú"],
)
def test_single_script_names_are_fine(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("room", ["#g\u0435neral", "#general\u034f", "#\u3164"])
def test_lookalike_rooms_are_refused(room: str) -> None:
    with pytest.raises(ProtocolError) as err:
        validate_room(room)
    assert err.value.code is ErrorCode.INVALID_ROOM
