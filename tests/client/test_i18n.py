"""The clients' words are translated: English by default, Spanish with LANG=es_ES.UTF-8."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.timing import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_has_a_spanish_translation_and_the_mo_is_current() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "i18n.py"), "check"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, (
        done.stdout + "\nrun: python tools/i18n.py update, translate, python tools/i18n.py compile"
    )


def _refused(lang: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.update({"LANG": lang, "PYTHONPATH": str(ROOT / "src")})
    done = subprocess.run(
        [sys.executable, "-m", "tertulia", "connect", "--plain", "localhost:99999"],
        capture_output=True, text=True, env=env, timeout=TIMEOUT, input="", check=False,
    )
    assert done.returncode == 2
    return done.stderr


def test_the_language_follows_the_locale() -> None:
    assert "the port is a number from 1 to 65535" in _refused("C.UTF-8")
    assert "el puerto es un número de 1 a 65535" in _refused("es_ES.UTF-8")
