"""The page's ``@<- VERB args`` translator (web/commands.js) against the server's own parsers.

For every line, the server must read the JSON object the page sends exactly
as it reads the text line (tertulia.protocol.commands: text_args against
json_args); a line the text parser refuses is refused by the page or by the
JSON parser.  The lines are a fixed list of every verb's forms plus a few
hundred seeded random ones, translated in real Chromium in one call.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from tertulia.protocol.commands import Command, Verb, json_args, split_json, split_text, text_args
from tertulia.protocol.errors import ProtocolError
from tests.browser.conftest import Tab
from tests.integration.harness import ServerThread

pytestmark = pytest.mark.slow

LINES = [
    "@<- IDENTIFY Ana", "@<- IDENTIFY Ana clave con espacios", "@<- REGISTER a b c",
    "@<- REGISTER", "@<- PASSWORD vieja nueva con espacios", "@<- PASSWORD vieja",
    "@<- UNREGISTER clave", "@<- NICK Bea", "@<- NICK Bea Cruz", "@<- NICK", "@<- JOIN #x",
    "@<- JOIN x", "@<- JOIN", "@<- JOIN #a #b", "@<- LEAVE", "@<- LEAVE #x",
    "@<- SAY #x hola  a todos", "@<- SAY #x", "@<- ME baila", "@<- ME", "@<- MSG Bob hola",
    "@<- MSG Bob", "@<- USERS", "@<- USERS #x", "@<- ROOMS", "@<- ROOMS x", "@<- TOPIC #x",
    "@<- TOPIC #x nuevo tema", "@<- TOPIC", "@<- HISTORY", "@<- HISTORY #x 10",
    "@<- HISTORY #x before 0123456789abcdef", "@<- HISTORY 5 after 0123456789abcdef",
    "@<- HISTORY #x 0", "@<- HISTORY #x diez", "@<- HISTORY after", "@<- HISTORY 5 after x",
    "@<- COLOR", "@<- COLOR #AABBCC", "@<- COLOR rojo", "@<- COLORS on", "@<- PROTO json",
    "@<- PING", "@<- PING a b", "@<- PONG t", "@<- HELP", "@<- HELP kick", "@<- QUIT",
    "@<- QUIT me voy", "@<- KICK #x Bob", "@<- KICK #x Bob spam y más", "@<- KICK #x",
    "@<- KICK Bob", "@<- BAN Troll", "@<- BAN Troll 10m", "@<- BAN Troll 2h flood",
    "@<- BAN Troll spam links", "@<- BAN 203.0.113.0/24 1d", "@<- BAN 2001:db8::1",
    "@<- BAN", "@<- BAN 999.1.1.1", "@<- BAN Troll 0s", "@<- UNBAN Troll",
    "@<- UNBAN Troll x", "@<- BANS", "@<- BANS x", "@<- MUTE #x Bob", "@<- MUTE #x Bob 10m",
    "@<- MUTE #x Bob siempre", "@<- UNMUTE #x Bob", "@<- UNMUTE #x Bob x",
    "@<- ANNOUNCE hola a todos", "@<- ANNOUNCE", "@<- MODE #x", "@<- MODE #x +m",
    "@<- MODE #x -mi", "@<- MODE #x m", "@<- MODE #x +m x", "@<- VOICE #x Bob",
    "@<- DEVOICE #x Bob", "@<- INVITE #x Bob", "@<- INVITE #x", "@<- kick #x bob",
    "@<-KICK #x Bob", "@<-  KICK #x Bob", "@<- FROB", "@<-", "@<- KİCK #x Bob",
]

WORDS = ["#x", "#y", "Bob", "bob", "10m", "0s", "2h", "+m", "-i", "x", "203.0.113.7",
         "before", "after", "0123456789abcdef", "5", "-1", "on", "json", "#AABBCC", "", "é"]


def random_lines(count: int) -> list[str]:
    rng = random.Random(20261201)
    verbs = [verb.value for verb in Verb]
    return ["@<- " + " ".join([rng.choice(verbs), *rng.choices(WORDS, k=rng.randint(0, 4))])
            for _ in range(count)]


def server_reads(line: str) -> Command | str:
    """What the server's text parser makes of a line: the command, or its error code."""
    try:
        verb, rest = split_text(line)
        return text_args(verb, rest)
    except ProtocolError as exc:
        return str(exc.code)


def server_reads_json(obj: dict[str, Any]) -> Command | str:
    try:
        verb, fields = split_json(json.dumps(obj))
        return json_args(verb, fields)
    except ProtocolError as exc:
        return str(exc.code)


TRANSLATE = """async (lines) => {
  const m = await import("/static/commands.js");
  return {verbs: m.VERBS, out: lines.map((line) => {
    try { return {ok: m.translate(line)}; } catch (e) { return {error: e.code || String(e)}; }
  })};
}"""


def test_the_page_sends_what_the_text_line_means(
        web_server: Callable[..., ServerThread], open_tab: Callable[..., Tab]) -> None:
    server = web_server()
    tab = open_tab(f"http://127.0.0.1:{server.http_port}/")
    lines = LINES + random_lines(400)
    result = tab.page.evaluate(TRANSLATE, lines)
    assert sorted(result["verbs"]) == sorted(verb.value for verb in Verb)
    agreed = refused = 0
    for line, out in zip(lines, result["out"], strict=True):
        expected = server_reads(line)
        if "error" in out:
            assert isinstance(expected, str), (
                f"{line!r}: the page refused ({out}), the server reads {expected}")
            refused += 1
            continue
        got = server_reads_json(out["ok"])
        if isinstance(expected, str):
            assert isinstance(got, str), f"{line!r}: read as {got}, text is {expected}"
            refused += 1
        else:
            assert got == expected, f"{line!r}: sent {out['ok']}"
            agreed += 1
    assert agreed > 100 and refused > 100  # both sides are reached
    assert tab.problems == []
