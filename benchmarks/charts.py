"""Charts and tables from a ``benchmarks/run.py`` result: PNGs for the docs, Markdown on stdout.

Run: ``.venv/bin/python benchmarks/charts.py [--docs] [benchmarks/results/latest.json]``.
Writes ``docs/img/perf-throughput.png``, ``perf-cpu.png`` and ``perf-latency.png``; with
``--docs`` it also replaces the results section of ``docs/performance.md`` (between its
``<!-- results`` and ``<!-- end of results -->`` markers) with what it prints, and the native
adapter's figures (between ``<!-- native results`` and ``<!-- end of native results -->``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
IMG = HERE.parent / "docs" / "img"
DOC = HERE.parent / "docs" / "performance.md"
BEGIN = "<!-- results: generated from benchmarks/results/latest.json by benchmarks/charts.py -->"
END = "<!-- end of results -->"
NATIVE_BEGIN = (
    "<!-- native results: generated from benchmarks/results/latest.json by benchmarks/charts.py -->"
)
NATIVE_END = "<!-- end of native results -->"
FLOOR = "floor"
PREFRAMED = "preframed"
NATIVE = "chatcore-native"
#: The rows of the native adapter's table, beside the floor.
NATIVE_ROWS = (PREFRAMED, NATIVE, "chatcore-native-redis", "chatcore-starlette")


def rows_by_target(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for row in results["runs"]:
        if "error" not in row:
            by.setdefault(row["target"], []).append(row)
    for rows in by.values():
        rows.sort(key=lambda row: row["receivers"])
    return by


def style(name: str) -> dict[str, Any]:
    if name == FLOOR:
        return {"color": "black", "linewidth": 2.5, "marker": "s"}
    if name == PREFRAMED:  # the other limit: what a bare relay of pre-built frames costs
        return {"color": "dimgrey", "linewidth": 2.0, "marker": "D", "linestyle": "--"}
    if name.startswith(NATIVE):  # (colours of their own: the cycle would repeat Starlette's)
        colour = "#17becf" if name == NATIVE else "#00607a"
        return {"linewidth": 2.8, "marker": "*", "markersize": 10, "color": colour}
    if name.startswith("chatcore-websockets"):  # the split-the-cost variants
        return {"linewidth": 1.2, "marker": "^", "linestyle": "-."}
    if name.startswith("chatcore"):
        return {"linewidth": 2.2, "marker": "o"}
    return {"linewidth": 1.2, "marker": ".", "linestyle": "--"}


def chart(
    results: dict[str, Any],
    value: Any,
    ylabel: str,
    title: str,
    out: Path,
    log_y: bool,
    generator: Any = None,
) -> None:
    labels = {name: spec["label"] for name, spec in results["targets"].items()}
    figure, axes = plt.subplots(figsize=(11, 5))
    sizes: set[int] = set()
    for name, rows in rows_by_target(results).items():
        points = [(row["receivers"], value(row)) for row in rows]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, label=labels.get(name, name), **style(name))
            sizes.update(xs)
    if generator is not None:  # the generator's own cost, in the floor's rows
        points = [(row["receivers"], generator(row)) for row in rows_by_target(results)[FLOOR]]
        xs, ys = zip(*points, strict=True)
        axes.plot(
            xs, ys, label="load generator (floor rows)", color="grey", linestyle=":", marker="x"
        )
    axes.set_xscale("log")
    axes.set_xticks(sorted(sizes), [f"{size:,}" for size in sorted(sizes)])
    axes.minorticks_off()
    if log_y:
        axes.set_yscale("log")
    axes.set_xlabel("receivers in the room (N)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def ratio(value: float | None, floor: float | None) -> str:
    if value is None or not floor:
        return "-"
    return f"{value / floor:.2f}x"


def table(results: dict[str, Any]) -> str:
    labels = {name: spec["label"] for name, spec in results["targets"].items()}
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for row in results["runs"]:
        by_size.setdefault(row["receivers"], {})[row["target"]] = row
    lines = []
    for size, rows in sorted(by_size.items()):
        floor = rows.get(FLOOR, {})
        floor_cpu = floor.get("throughput", {}).get("server_us_per_delivery")
        floor_p99 = floor.get("latency", {}).get("latency_ms", {}).get("p99")
        lines += [
            f"**N = {size:,}**",
            "",
            "| target | deliveries/s | server µs/delivery | ratio to floor | generator µs/delivery "
            "| busy: server / generator | lost / dup | latency p50 / p99 / max (ms) "
            "| p99 ratio to floor |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for name, row in rows.items():
            if "error" in row:
                lines.append(f"| {labels.get(name, name)} | failed: {row['error']} ||||||||")
                continue
            tput, lat = row["throughput"], row["latency"]
            cpu = tput.get("server_us_per_delivery")
            extra = tput.get("extra_us_per_delivery") or 0
            cpu_text = "-" if cpu is None else f"{cpu:.1f}"
            cpu_text += f" (+{extra:.1f} Redis)" if extra else ""
            ms = lat.get("latency_ms", {})
            lost = tput["lost"] + lat["lost"]
            dup = tput["duplicated"] + lat["duplicated"]
            if "repeats" in row:  # every run of the row counts
                lost = sum(other["lost"] for other in row["repeats"])
                dup = sum(other["duplicated"] for other in row["repeats"])
            lines.append(
                f"| {labels.get(name, name)} | {tput['deliveries_per_s']:,} | {cpu_text} "
                f"| {ratio(cpu, floor_cpu)} | {tput.get('generator_us_per_delivery', 0.0):.1f} "
                f"| {tput.get('server_busy', 0):.0%} / {tput.get('generator_busy', 0):.0%} "
                f"| {lost} / {dup} | {ms.get('p50')} / {ms.get('p99')} / {ms.get('max')} "
                f"| {ratio(ms.get('p99'), floor_p99)} |"
            )
        lines.append("")
    idle = [row for row in results.get("idle", []) if "error" not in row]
    if idle:
        lines += ["| idle connections | server RSS per connection |", "|---|--:|"]
        for row in idle:
            lines.append(
                f"| {labels.get(row['target'], row['target'])}, {row['receivers']:,} "
                f"| {row['rss_per_connection'] / 1024:.1f} KiB |"
            )
    return "\n".join(lines)


#: The issue's targets: (what, numerator, denominator, metric, limit).
GOALS = (
    ("CPU/delivery, Starlette vs floor", "chatcore-starlette", FLOOR, "cpu", 1.3),
    ("CPU/delivery, Django vs floor", "chatcore-django", FLOOR, "cpu", 2.0),
    (
        "CPU/delivery, Starlette 2 processes on Redis vs in-memory",
        "chatcore-starlette-redis",
        "chatcore-starlette",
        "cpu",
        1.3,
    ),
    (
        "same, Redis's own CPU included",
        "chatcore-starlette-redis",
        "chatcore-starlette",
        "cpu+redis",
        1.3,
    ),
    (
        "CPU/delivery, Django 2 processes on Redis vs in-memory",
        "chatcore-django-redis",
        "chatcore-django",
        "cpu",
        1.3,
    ),
    ("p99 latency, Starlette vs floor", "chatcore-starlette", FLOOR, "p99", 1.5),
    ("p99 latency, Django vs floor", "chatcore-django", FLOOR, "p99", 1.5),
    (
        "CPU/delivery, Starlette vs broadcaster (same ASGI stack, no chat logic)",
        "chatcore-starlette",
        "broadcaster",
        "cpu",
        None,
    ),
    ("CPU/delivery, native adapter vs floor", NATIVE, FLOOR, "cpu", 1.0),
    (
        "CPU/delivery, native adapter vs pre-framed limit (the moonshot)",
        NATIVE,
        PREFRAMED,
        "cpu",
        1.25,
    ),
    (
        "CPU/delivery, native adapter 2 processes on Redis vs 1",
        "chatcore-native-redis",
        NATIVE,
        "cpu",
        1.3,
    ),
    ("same, Redis's own CPU included", "chatcore-native-redis", NATIVE, "cpu+redis", 1.3),
    ("p99 latency, native adapter vs floor", NATIVE, FLOOR, "p99", 1.0),
    ("CPU/delivery, core on bare websockets vs floor", "chatcore-websockets", FLOOR, "cpu", None),
    ("p99 latency, core on bare websockets vs floor", "chatcore-websockets", FLOOR, "p99", None),
)


def metric(row: dict[str, Any] | None, kind: str) -> float | None:
    if row is None or "error" in row:
        return None
    tput = row["throughput"]
    if kind == "p99":
        value: float | None = row["latency"].get("latency_ms", {}).get("p99")
        return value
    cpu: float | None = tput.get("server_us_per_delivery")
    if cpu is not None and kind == "cpu+redis":
        cpu += tput.get("extra_us_per_delivery") or 0.0
    return cpu


def goals(results: dict[str, Any], only: tuple[str, ...] = ()) -> str:
    """The issue's targets against this run, one column per N (``only``: the goals of these
    targets)."""
    rows: dict[tuple[str, int], dict[str, Any]] = {
        (row["target"], row["receivers"]): row for row in results["runs"]
    }
    sizes = sorted({size for _, size in rows})
    lines = [
        "| target | goal | " + " | ".join(f"N = {size:,}" for size in sizes) + " |",
        "|---|--:|" + "--:|" * len(sizes),
    ]
    for what, top, bottom, kind, limit in GOALS:
        if only and top not in only:
            continue
        cells = []
        for size in sizes:
            a, b = metric(rows.get((top, size)), kind), metric(rows.get((bottom, size)), kind)
            if a is None or not b:
                cells.append("-")
                continue
            mark = "" if limit is None else (" ✓" if a / b <= limit else " ✗")
            cells.append(f"{a / b:.2f}x{mark}")
        goal = "-" if limit is None else f"≤ {limit}x"
        lines.append(f"| {what} | {goal} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def p99_rounds(results: dict[str, Any]) -> str:
    """The p99 rounds: each round's p50 and p99 per target, the ratio to the first target (the
    floor) in that round, and the medians."""
    found = results.get("p99_rounds")
    if not found or not found["rounds"]:
        return ""
    labels = {name: spec["label"] for name, spec in results["targets"].items()}
    base, *others = found["targets"]
    lines = [
        f"p99 rounds at N = {found['receivers']:,} (latency phase: "
        f"{results['settings']['offered_deliveries_per_s']:,} deliveries/s offered), the "
        "targets taking turns in each round:",
        "",
        "| round | "
        + " | ".join(f"{labels.get(n, n)}: p50 / p99 (ms)" for n in found["targets"])
        + " | "
        + " | ".join(f"p99 ratio, {labels.get(n, n)} / floor" for n in others)
        + " |",
        "|--:|" + "--:|" * (2 * len(found["targets"]) - 1),
    ]
    ratios: dict[str, list[float]] = {name: [] for name in others}
    p99s: dict[str, list[float]] = {name: [] for name in found["targets"]}
    for number, one in enumerate(found["rounds"], 1):
        cells = []
        for name in found["targets"]:
            run = one.get(name, {})
            if "p99" in run:
                p99s[name].append(run["p99"])
                cells.append(f"{run['p50']:.1f} / {run['p99']:.1f}")
            else:
                cells.append(f"failed: {run.get('error', '-')}")
        for name in others:
            top, bottom = one.get(name, {}).get("p99"), one.get(base, {}).get("p99")
            if top is not None and bottom:
                ratios[name].append(top / bottom)
                cells.append(f"{top / bottom:.2f}x")
            else:
                cells.append("-")
        lines.append(f"| {number} | " + " | ".join(cells) + " |")
    medians = [f"p99 {median(p99s[n]):.1f}" if p99s[n] else "-" for n in found["targets"]]
    medians += [f"**{median(ratios[n]):.2f}x**" if ratios[n] else "-" for n in others]
    lines.append("| median | " + " | ".join(medians) + " |")
    return "\n".join(lines)


def native(results: dict[str, Any]) -> str:
    """The native adapter's figures: server CPU per delivery beside the floor and the pre-framed
    limit, its goals, the p99 rounds, idle memory."""
    rows = {(row["target"], row["receivers"]): row for row in results["runs"]}
    labels = {name: spec["label"] for name, spec in results["targets"].items()}
    sizes = sorted({size for name, size in rows if name == NATIVE})
    lines = [
        "| server CPU per delivery (µs) and ratio to the floor | "
        + " | ".join(f"N = {size:,}" for size in sizes)
        + " |",
        "|---|" + "--:|" * len(sizes),
    ]
    for name in (FLOOR, *NATIVE_ROWS):
        cells = []
        for size in sizes:
            cpu = metric(rows.get((name, size)), "cpu")
            floor = metric(rows.get((FLOOR, size)), "cpu")
            if cpu is None:
                cells.append("-")
            elif name == FLOOR:
                cells.append(f"{cpu:.1f}")
            else:
                cells.append(f"{cpu:.1f} ({ratio(cpu, floor)})")
        lines.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")
    lines += ["", goals(results, only=(NATIVE, "chatcore-native-redis"))]
    rounds = p99_rounds(results)
    if rounds:
        lines += ["", rounds]
    idle = {row["target"]: row for row in results.get("idle", []) if "error" not in row}
    if NATIVE in idle:
        row = idle[NATIVE]
        kib = row["rss_per_connection"] / 1024
        others = ", ".join(
            f"{labels.get(name, name)} {idle[name]['rss_per_connection'] / 1024:.1f} KiB"
            for name in (FLOOR, "chatcore-starlette")
            if name in idle
        )
        mark = "✓" if row["rss_per_connection"] <= 20 * 1000 else "✗"
        lines += [
            "",
            f"Idle memory, {row['receivers']:,} connections each joined to the room: the native "
            f"adapter **{kib:.1f} KiB** per connection (goal ≤ 20 KB: {mark}); {others}.",
        ]
    return "\n".join(lines)


def describe(results: dict[str, Any]) -> str:
    """One paragraph: the command, the machine, the packages, the load, the time."""
    machine = results["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    start, end = machine["load_average_at_start"][0], machine["load_average_at_end"][0]
    repeat = results["settings"].get("repeat", 1)
    rows = (
        f" Each row is the median of {repeat} runs by server CPU per delivery (lost and "
        "duplicated deliveries count over all of them)."
        if repeat > 1
        else ""
    )
    return (
        f"The run: `{results['command']}` on {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}, Python {machine['python']}; "
        f"{packages}; Redis on the same machine. Load average {start:.2f} at the start, "
        f"{end:.2f} at the end; the run took {results['wall_seconds']:.0f} s (started "
        f"{results['started']}).{rows}"
    )


def section(results: dict[str, Any]) -> str:
    """The results section of docs/performance.md."""
    return "\n".join(
        [
            describe(results),
            "",
            "### Against the issue's targets",
            "",
            goals(results),
            "",
            "### Charts",
            "",
            "![Deliveries per second by room size](img/perf-throughput.png)",
            "",
            "![Server CPU per delivery by room size](img/perf-cpu.png)",
            "",
            "![p99 latency by room size](img/perf-latency.png)",
            "",
            "### Every target, every size",
            "",
            table(results),
            *(["", "### p99 rounds", "", p99_rounds(results)] if p99_rounds(results) else []),
        ]
    )


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg != "--docs"]
    source = Path(args[0]) if args else HERE / "results" / "latest.json"
    results = json.loads(source.read_text())
    IMG.mkdir(parents=True, exist_ok=True)
    chart(
        results,
        lambda row: row["throughput"]["deliveries_per_s"],
        "deliveries per second",
        "Throughput: one sender, N receivers, a bounded window of messages in flight",
        IMG / "perf-throughput.png",
        log_y=True,
    )
    chart(
        results,
        lambda row: row["throughput"].get("server_us_per_delivery"),
        "server CPU µs per delivery (lower is better)",
        "Server CPU per delivery (all server processes, Redis excluded)",
        IMG / "perf-cpu.png",
        log_y=True,
        generator=lambda row: row["throughput"].get("generator_us_per_delivery"),
    )
    chart(
        results,
        lambda row: row["latency"].get("latency_ms", {}).get("p99"),
        "p99 latency, ms (lower is better)",
        f"Latency p99 at {results['settings']['offered_deliveries_per_s']:,} deliveries/s offered",
        IMG / "perf-latency.png",
        log_y=True,
    )
    text = section(results)
    print(text)
    if "--docs" in sys.argv:
        doc = replace(DOC.read_text(), BEGIN, END, text)
        if any(row["target"] == NATIVE for row in results["runs"]):
            doc = replace(doc, NATIVE_BEGIN, NATIVE_END, native(results))
        DOC.write_text(doc)


def replace(doc: str, begin: str, end: str, text: str) -> str:
    """``doc`` with what is between the ``begin`` and ``end`` markers replaced by ``text``."""
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n\n{text}\n\n{end}{tail}"


if __name__ == "__main__":
    main()
