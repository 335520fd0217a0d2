"""The browser tests' setup: a missing browser is skipped locally and fails in CI."""

from __future__ import annotations

import re

import pytest

from tests.browser import conftest


def test_missing_browser_fails_when_ci_is_true(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        conftest._missing("Debian's chromium is not installed")


@pytest.mark.parametrize("value", [None, "", "false", "1"])
def test_missing_browser_is_skipped_elsewhere(monkeypatch: pytest.MonkeyPatch,
                                              value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception):
        conftest._missing("Debian's chromium is not installed")


def test_system_deps_installs_chromium() -> None:
    """CI gets the browser from Debian through make system-deps, never `playwright install`."""
    makefile = (conftest.ROOT / "Makefile").read_text()
    target = makefile.split("\nsystem-deps:", 1)[1].split("\n\n", 1)[0]
    assert "command -v chromium" in target and "apt-get install -y -qq chromium" in target
    runs = [line for line in makefile.splitlines()
            if "playwright install" in line and not line.lstrip().startswith("#")]
    assert runs == []


def _keys(block: str) -> set[str]:
    return set(re.findall(r"^ {4}(\w+):", block, flags=re.M))


def test_the_page_has_every_word_in_english_and_spanish() -> None:
    """i18n.js: the same keys in both languages, and every t("key") of app.js among them."""
    web = conftest.ROOT / "src" / "tertulia" / "web"
    source = (web / "i18n.js").read_text()
    en = source.split("\n  en: {", 1)[1].split("\n  },", 1)[0]
    es = source.split("\n  es: {", 1)[1].split("\n  },", 1)[0]
    assert _keys(en) == _keys(es), _keys(en) ^ _keys(es)
    used = set(re.findall(r'\bt\("(\w+)"', (web / "app.js").read_text()))
    used |= set(re.findall(r'data-t="(\w+)"', (web / "index.html").read_text()))
    assert used and used <= _keys(en), used - _keys(en)
    assert en.count('"/') == es.count('"/')  # the help lists match line for line


def test_the_page_loads_nothing_from_elsewhere_and_no_inline_code() -> None:
    """No other site, no inline script or style (the CSP would block them anyway)."""
    web = conftest.ROOT / "src" / "tertulia" / "web"
    html = (web / "index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and "<style" not in html
    assert " style=" not in html and not re.search(r"\son\w+=", html)
    for script in web.glob("*.js"):
        code = script.read_text()
        assert "innerHTML" not in code and "insertAdjacentHTML" not in code, script.name
        assert "eval(" not in code and "document.write" not in code, script.name
