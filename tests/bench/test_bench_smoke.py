"""The benchmark harness works end to end (a few seconds; no figure is asserted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def have_ngircd() -> bool:
    return bool(shutil.which("ngircd")) or os.access("/usr/sbin/ngircd", os.X_OK)


@pytest.mark.slow
def test_quick_bench_runs_both_servers(tmp_path: Path) -> None:
    if not have_ngircd():
        if os.environ.get("CI"):
            pytest.fail("ngircd is missing in CI: `make system-deps` should have installed it")
        pytest.skip("ngircd is not installed (make system-deps)")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-plot", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| figure | Tertulia | ngircd | Tertulia/ngircd |" in proc.stdout
    (result,) = tmp_path.glob("*.json")
    data = json.loads(result.read_text())
    for server in ("tertulia", "ngircd"):
        fanout = data[server]["fanout"][0]
        assert fanout["complete"], fanout
        assert fanout["order_errors"] == 0, fanout
        assert fanout["deliveries"] >= fanout["expected"] > 0
        assert data[server]["idle"][0]["connections"] == 20
        assert data[server]["roundtrip"]["received"] == data[server]["roundtrip"]["messages"]


@pytest.mark.slow
def test_websocket_fanout_bench_runs() -> None:
    """python -m bench.websocket, tiny: both transports deliver every message."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.websocket", "--receivers", "3", "--messages", "50",
         "--rounds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "round 1 tcp:" in proc.stdout and "round 1 ws :" in proc.stdout
    assert "websocket/tcp = " in proc.stdout
