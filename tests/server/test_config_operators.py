"""The ``operators`` option: a TOML list or a comma-separated flag, names checked once."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tertulia.server.config import ConfigError, add_arguments, from_namespace


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_flag_is_comma_separated_and_reaches_the_core() -> None:
    config = from_namespace(parse("--operators", " Ana, Bea ,"))
    assert config.operators == ("Ana", "Bea")
    assert config.core("0.1.0").operators == ("Ana", "Bea")


def test_toml_list_and_the_flag_wins(tmp_path: Path) -> None:
    file = tmp_path / "t.toml"
    file.write_text('operators = ["Zoe", "Ｂｅａ"]\n')
    assert from_namespace(parse("--config", str(file))).operators == ("Zoe", "Ｂｅａ")
    assert from_namespace(parse("--config", str(file), "--operators", "Ana")).operators == (
        "Ana",)


def test_default_is_nobody() -> None:
    assert from_namespace(parse()).operators == ()


@pytest.mark.parametrize(
    ("content", "needle"),
    [('operators = ["9lives"]', "9lives"), ("operators = [1]", "list of names"),
     ('operators = ["Ana", "ANA"]', "twice"), ("operators = 3", "list of names")],
)
def test_bad_toml_values(tmp_path: Path, content: str, needle: str) -> None:
    file = tmp_path / "t.toml"
    file.write_text(content + "\n")
    with pytest.raises(ConfigError) as err:
        from_namespace(parse("--config", str(file)))
    assert needle in str(err.value) and "operators" in str(err.value)


def test_bad_flag_value_names_the_flag() -> None:
    with pytest.raises(ConfigError) as err:
        from_namespace(parse("--operators", "Ana,a b"))
    assert "--operators" in str(err.value) and "'a b'" in str(err.value)
