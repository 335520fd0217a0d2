"""``python -m bench``: run every scenario against Tertulia and ngircd; print the ratios.

The servers run pinned to core 0, this process to core 1 (when there are two).
Raw results go to bench/results/<time>.json and a plot next to them; with
``--docs`` the table and plot also replace those in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.servers import SERVERS, TERTULIA_RELAXED, ServerUnderTest

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--servers", default="tertulia,ngircd")
    p.add_argument("--clients", default="50,200,1000", help="fan-out room sizes")
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--seconds", type=float, default=5.0, help="fan-out send time")
    p.add_argument("--idle", default="1000,10000", help="idle connection counts")
    p.add_argument("--rate", type=float, default=40.0, help="round-trip messages per second")
    p.add_argument("--rt-seconds", type=float, default=5.0)
    p.add_argument("--quick", action="store_true", help="a few seconds in all: a smoke test")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--no-plot", action="store_true")
    p.add_argument(
        "--docs", action="store_true", help="also put the table and plot in docs/performance.md"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.clients, args.senders, args.seconds = "6", 2, 0.5
        args.idle, args.rt_seconds, args.rate = "20", 0.5, 20.0
    return args


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})


async def run_server(kind: str, args: argparse.Namespace, server_core: int) -> dict[str, Any]:
    out: dict[str, Any] = {"fanout": [], "idle": [], "roundtrip": None}

    async def fresh(fn: Any, *fargs: Any) -> dict[str, Any]:
        server: ServerUnderTest = SERVERS[kind](server_core)
        server.start()
        out.setdefault("command", server.flags())
        try:
            return await fn(server, *fargs)  # type: ignore[no-any-return]
        finally:
            server.stop()

    for c in [int(x) for x in args.clients.split(",") if x]:
        r = await fresh(scenarios.fanout, c, min(args.senders, c - 1), args.window, args.seconds)
        out["fanout"].append(r)
        print(
            f"  {kind:8} fan-out C={c:<5} {r['deliveries_per_s']:>12,.0f} deliveries/s "
            f"{r['cpu_s_per_million']:6.2f} CPU-s/M  p50 {r['latency_p50_ms']:7.2f} ms "
            f"p99 {r['latency_p99_ms']:7.2f} ms  loadgen {r['loadgen_cpu_s']:.1f} s"
            f"{'' if r['complete'] and not r['order_errors'] else '  INCOMPLETE/ORDER!'}",
            flush=True,
        )
    for n in [int(x) for x in args.idle.split(",") if x]:
        r = await fresh(scenarios.idle, n)
        out["idle"].append(r)
        print(
            f"  {kind:8} idle N={n:<6} {r['kib_per_connection']:6.2f} KiB/conn "
            f"{r['registrations_per_s']:8,.0f} registrations/s",
            flush=True,
        )
    r = await fresh(scenarios.roundtrip, args.rate, args.rt_seconds)
    out["roundtrip"] = r
    print(
        f"  {kind:8} round trip  p50 {r['latency_p50_ms']:.3f} ms  p99 "
        f"{r['latency_p99_ms']:.3f} ms",
        flush=True,
    )
    return out


def rows(results: dict[str, Any]) -> list[tuple[str, str, float, float]]:
    """(figure, unit, tertulia, ngircd) for the table."""
    t, n = results.get("tertulia"), results.get("ngircd")
    out: list[tuple[str, str, float, float]] = []

    def both(getter: Any) -> tuple[float, float]:
        a = getter(t) if t else math.nan
        b = getter(n) if n else math.nan
        return a, b

    for i, f in enumerate((t or n)["fanout"]):
        c = f["clients"]
        for key, label, unit in (
            ("deliveries_per_s", "deliveries/s", "/s"),
            ("cpu_s_per_million", "CPU-s per M deliveries", "s"),
            ("latency_p50_ms", "latency p50", "ms"),
            ("latency_p99_ms", "latency p99", "ms"),
        ):
            a, b = both(lambda r, i=i, key=key: r["fanout"][i][key])
            out.append((f"fan-out C={c}: {label}", unit, a, b))
    for i, f in enumerate((t or n)["idle"]):
        nn = f["connections"]
        a, b = both(lambda r, i=i: r["idle"][i]["kib_per_connection"])
        out.append((f"idle N={nn}: memory per connection", "KiB", a, b))
        a, b = both(lambda r, i=i: r["idle"][i]["registrations_per_s"])
        out.append((f"idle N={nn}: registrations/s", "/s", a, b))
    for key, label in (("latency_p50_ms", "p50"), ("latency_p99_ms", "p99")):
        a, b = both(lambda r, key=key: r["roundtrip"][key])
        out.append((f"round trip {label}", "ms", a, b))
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| figure | Tertulia | ngircd | Tertulia/ngircd |", "|---|---:|---:|---:|"]
    for figure, unit, a, b in rows(results):
        fmt = "{:,.0f}" if unit == "/s" else "{:.2f}"
        ratio = a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan
        lines.append(f"| {figure} ({unit}) | {fmt.format(a)} | {fmt.format(b)} | {ratio:.2f} |")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.38
    for k, (name, color) in enumerate((("tertulia", "#e06c75"), ("ngircd", "#5599d2"))):
        r = results.get(name)
        if not r:
            continue
        cs = [f["clients"] for f in r["fanout"]]
        xs = [i + (k - 0.5) * width for i in range(len(cs))]
        ax1.bar(
            xs, [f["deliveries_per_s"] / 1e6 for f in r["fanout"]], width, label=name, color=color
        )
        ax2.plot(
            [str(c) for c in cs],
            [f["latency_p50_ms"] for f in r["fanout"]],
            "o-",
            color=color,
            label=f"{name} p50",
        )
        ax2.plot(
            [str(c) for c in cs],
            [f["latency_p99_ms"] for f in r["fanout"]],
            "s--",
            color=color,
            label=f"{name} p99",
        )
        ax1.set_xticks(range(len(cs)), [str(c) for c in cs])
    ax1.set_title("Fan-out throughput")
    ax1.set_xlabel("clients in the room")
    ax1.set_ylabel("million deliveries / s")
    ax1.legend()
    ax2.set_title("Fan-out latency, send to receipt")
    ax2.set_xlabel("clients in the room")
    ax2.set_ylabel("ms")
    ax2.set_yscale("log")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    two = (os.cpu_count() or 1) >= 2
    pin(1 if two else 0)
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop
    print(f"machine: {machine()}")
    print(f"tertulia relaxed flags: {' '.join(TERTULIA_RELAXED)}")
    print("ngircd: bench/ngircd.conf.template (penalties and connection limits off)")
    results: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for kind in args.servers.split(","):
        print(f"{kind}:", flush=True)
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            results[kind] = runner.run(run_server(kind, args, 0))
    print()
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / time.strftime("%Y%m%d-%H%M%S")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(f"\nraw results: {stem.with_suffix('.json')}")
    if not args.no_plot:
        plot(results, stem.with_suffix(".png"))
        print(f"plot: {stem.with_suffix('.png')}")
    if args.docs:
        update_docs(results, stem, argv)
    return 0


DOCS = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def update_docs(results: dict[str, Any], stem: Path, argv: list[str] | None) -> None:
    """Replace the generated part of docs/performance.md with this run."""
    import shutil

    command = "make bench" + (f' BENCH_ARGS="{" ".join(argv)}"' if argv else "")
    if not (stem.with_suffix(".png")).exists():
        raise SystemExit("--docs needs the plot (drop --no-plot)")
    shutil.copy(stem.with_suffix(".png"), DOCS.with_name("performance.png"))
    block = "\n".join(
        [
            BEGIN,
            f"Measured {results['time']} with `{command}` on {results['machine']}.",
            "",
            table(results),
            "",
            "![Fan-out throughput and latency](performance.png)",
            END,
        ]
    )
    text = DOCS.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOCS.write_text(head + block + tail)
    print(f"updated {DOCS.relative_to(DOCS.parents[1])}")


if __name__ == "__main__":
    sys.exit(main())
