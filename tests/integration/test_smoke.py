"""A first conversation over real TCP: the path every other test builds on."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.harness import Client


def test_two_users_chat(connect: Callable[..., Client]) -> None:
    ana, bob = connect(), connect()
    assert ana.welcome.startswith("@-> WELCOME tertulia ")
    ana.identify("Ana")
    bob.identify("Bob")
    ana.until(r"^@-> JOIN #general Bob #")
    bob.send("hola")
    line = ana.line()
    assert line.startswith("#general <") and line.endswith("Bob\x1b[0m> hola")
    bob.quiet()
