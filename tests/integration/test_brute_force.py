"""Password guessing over real sockets: slowed down, measured, then locked (core.throttle).

Timings are lower bounds only (a loaded machine is slower, never faster), with
``--auth-delay 0.25`` so that the test stays short: the fourth, fifth and
sixth checks start at least 0.25 s, 0.5 s and 1 s after the start of the one
before, so the sixth answer comes at least 1.75 s after the first question.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import Dial, err_explained, ident, reply
from tests.timing import TIMEOUT

WRONG = "@-> ERR AUTH_FAILED wrong password for that name"


def registered(server: ServerThread, dial: Dial, name: str = "Ana", password: str = "s3cret",
               source: str = "127.0.0.1") -> None:
    owner = dial(server, source=source)
    ident(owner, name)
    assert reply(owner, f"@<- REGISTER {password}") == f"@-> OK REGISTER {name}"
    assert reply(owner, "@<- QUIT") == "@-> BYE QUIT Quit"


def test_wrong_passwords_are_slowed_down(make_server: Callable[..., ServerThread],
                                         dial: Dial) -> None:
    server = make_server(auth_delay=0.25)
    registered(server, dial)
    guesser = dial(server, source="127.0.0.2")
    answered = []  # seconds from the first question to each answer
    start = time.monotonic()
    for _ in range(6):
        assert reply(guesser, "@<- IDENTIFY Ana guess") == WRONG
        answered.append(time.monotonic() - start)
    assert answered[3] >= 0.25 and answered[4] >= 0.75 and answered[5] >= 1.75, answered


def test_parallel_guesses_are_spaced_too(make_server: Callable[..., ServerThread],
                                         dial: Dial) -> None:
    """Six connections guessing at once take as long as one guessing six times."""
    server = make_server(auth_delay=0.25)
    registered(server, dial)
    guessers = [dial(server, source=f"127.0.1.{i}") for i in range(6)]
    replies: list[str] = []
    start = time.monotonic()
    for guesser in guessers:
        guesser.send("@<- IDENTIFY Ana guess")
    threads = [threading.Thread(target=lambda g=g: replies.append(g.line(TIMEOUT * 2)))
               for g in guessers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert replies == [WRONG] * 6
    assert elapsed >= 1.75, elapsed


def test_lock_then_the_owner_still_gets_in(make_server: Callable[..., ServerThread],
                                           dial: Dial) -> None:
    """After the lock a guesser is refused at once, even with the right password; the owner,
    from an address where it logged in before, is not locked out."""
    server = make_server(auth_delay=0.05, auth_lock_after=4, auth_lock_for=60)
    registered(server, dial)
    with dial(server) as owner:  # a first login from here makes the address trusted
        ident(owner, "Ana", "s3cret")
    guesser = dial(server, source="127.0.0.3")
    for _ in range(4):
        assert reply(guesser, "@<- IDENTIFY Ana guess") == WRONG
    start = time.monotonic()
    locked = err_explained(guesser, "@<- IDENTIFY Ana s3cret", "AUTH_FAILED")
    assert "too many wrong passwords; try again in" in locked
    assert time.monotonic() - start < 1.0  # refused at once, no hashing
    other = dial(server, source="127.0.0.4")
    assert "too many wrong passwords" in err_explained(other, "@<- IDENTIFY Ana s3cret",
                                                       "AUTH_FAILED")
    with dial(server) as owner:
        ident(owner, "Ana", "s3cret")


def test_password_and_unregister_count_as_guesses(make_server: Callable[..., ServerThread],
                                                  dial: Dial) -> None:
    # Loopback is exempt from the address count by default (--auth-exempt); here it is
    # counted, as any address on the internet, and the owner's own address is trusted
    # for the name, so only the address count can stop these guesses.
    server = make_server(auth_delay=0.05, auth_lock_after=3, auth_lock_for=60, auth_exempt=())
    ana = Client(server.port)
    try:
        ident(ana, "Ana")
        assert reply(ana, "@<- REGISTER s3cret") == "@-> OK REGISTER Ana"
        assert reply(ana, "@<- PASSWORD nope newpass") == "@-> ERR AUTH_FAILED wrong password"
        assert reply(ana, "@<- UNREGISTER nope") == "@-> ERR AUTH_FAILED wrong password"
        assert reply(ana, "@<- UNREGISTER nope") == "@-> ERR AUTH_FAILED wrong password"
        assert "too many wrong passwords" in reply(ana, "@<- UNREGISTER s3cret")
    finally:
        ana.close()
