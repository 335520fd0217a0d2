"""The browser tests' setup: a missing browser is skipped locally and fails in CI."""

from __future__ import annotations

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
