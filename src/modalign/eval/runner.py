"""The ``modalign bench`` command: run, write results/summary/plots/page, compare runs."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..config import build, parse_overrides, to_dict
from ..errors import InputError
from ..pipeline import RegisterConfig
from ..progress import progress_bar
from .bench import BenchConfig, matcher_names, run_benchmark
from .report import (
    benchmark_document,
    compare,
    load_results,
    statistics,
    summary_markdown,
    write_plots,
)


def machine_description() -> str:
    """CPU model and core count of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def run_command(
    data: list[Path],
    matchers: list[str],
    out: Path,
    *,
    limit: int = 0,
    categories: list[str] = (),
    held_out: list[str] = (),
    tuning: list[str] = (),
    workers: int = 1,
    seed: int = 0,
    overwrite: bool = False,
    overrides: list[str] = (),
    markdown: Path | None = None,
    precision: str = "",
    device: str = "",
    show_progress: bool = False,
) -> list[dict]:
    """Run the benchmark and write results.json, summary.md, plots (and the page)."""
    from .. import __version__

    register_config = build(RegisterConfig, parse_overrides(overrides))
    names = {Path(d).name for d in data}
    for option, sets in (("--held-out", held_out), ("--tuning", tuning)):
        unknown = sorted(set(sets) - names)
        if unknown:
            raise InputError(f"{option} {unknown[0]}", "not the folder name of any --data set")
    both = sorted(set(held_out) & set(tuning))
    if both:
        raise InputError(f"--tuning {both[0]}", "also given as --held-out: choose one part")
    config = BenchConfig(
        data=tuple(str(d) for d in data),
        matchers=matcher_names(matchers),
        register=register_config,
        seed=seed,
        limit=limit,
        categories=tuple(categories),
        held_out=tuple(held_out),
        tuning=tuple(tuning),
        workers=workers,
        overwrite=overwrite,
        precision=precision,
        device=device,
    )
    start = time.perf_counter()
    with progress_bar("bench", show_progress) as progress:
        task = progress.add_task("bench", total=None)
        records, computed = run_benchmark(
            config, out, lambda done, total: progress.update(task, completed=done, total=total)
        )
    meta = {
        "command": _command_line(
            data,
            matchers,
            out,
            limit,
            categories,
            held_out,
            tuning,
            workers,
            seed,
            overrides,
            markdown,
            precision,
            device,
        ),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "version": __version__,
        "workers": workers,
        "seed": seed,
        "precision": precision or "each matcher's default",
        "device": device or "each matcher's default",
        "wall_seconds": time.perf_counter() - start,
        "computed": computed,
        "reused": len(records) - computed,
        "register": {k: v for k, v in to_dict(register_config).items() if k != "matcher"},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "records": records}, indent=1))
    (out / "summary.md").write_text(summary_markdown(records))
    write_plots(records, out)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(benchmark_document(meta, records))
    _print_overall(records, out, meta["wall_seconds"])
    return records


def _command_line(
    data, matchers, out, limit, categories, held_out, tuning, workers, seed, overrides,
    markdown, precision, device,
) -> str:  # fmt: skip
    """The ``modalign bench`` command that reproduces a run."""
    words = ["modalign", "bench"]
    words += [w for d in data for w in ("--data", str(d))]
    words += [w for m in matchers for w in ("--matcher", m)]
    words += [w for c in categories for w in ("--category", c)]
    words += [w for h in held_out for w in ("--held-out", h)]
    words += [w for t in tuning for w in ("--tuning", t)]
    words += [w for o in overrides for w in ("--set", o)]
    if limit:
        words += ["--limit", str(limit)]
    if precision:
        words += ["--precision", precision]
    if device:
        words += ["--device", device]
    words += ["--seed", str(seed), "--workers", str(workers), "--out", str(out)]
    if markdown is not None:
        words += ["--markdown", str(markdown)]
    return shlex.join(words)


def _print_overall(records: list[dict], out: Path, seconds: float) -> None:
    table = Table("matcher", "pairs", "SR@5", "SR@10", "SR@20", "median px", "s/pair", box=None)
    matchers = list(dict.fromkeys(r["matcher"] for r in records))
    for matcher in matchers:
        stats = statistics([r for r in records if r["matcher"] == matcher])
        table.add_row(
            matcher, str(int(stats["pairs"])),
            *(f"{100 * stats[f'SR@{t}']:.0f}%" for t in (5, 10, 20)),
            f"{stats['median']:.2f}", f"{stats['time']:.2f}",
        )  # fmt: skip
    console = Console(width=120)
    console.print(table)
    console.print(f"{len(records)} results in {seconds:.0f} s -> {out}/summary.md")


def compare_command(folder_a: Path, folder_b: Path) -> None:
    """Print the side-by-side table and the per-pair wins and losses at 10 px."""
    result = compare(load_results(folder_a)["records"], load_results(folder_b)["records"])
    console = Console(width=140)
    table = Table(
        "set",
        "matcher",
        "SR@10 A",
        "SR@10 B",
        "median A",
        "median B",
        "AUC@10 A",
        "AUC@10 B",
        box=None,
    )
    for (set_name, matcher), a, b in result["table"]:
        table.add_row(
            set_name, matcher, f"{100 * a['SR@10']:.0f}%", f"{100 * b['SR@10']:.0f}%",
            f"{a['median']:.2f}", f"{b['median']:.2f}", f"{a['AUC@10']:.3f}", f"{b['AUC@10']:.3f}",
        )  # fmt: skip
    console.print(f"A = {folder_a}, B = {folder_b}; {result['pairs']} pairs in common")
    console.print(table)

    def describe(error: float | None) -> str:
        return "fail" if error is None else f"{error:.2f} px"

    sections = (
        ("wins of B (fails in A, succeeds in B at 10 px)", result["wins"]),
        ("losses of B (succeeds in A, fails in B at 10 px)", result["losses"]),
    )
    for title, rows in sections:
        console.print(f"{title}: {len(rows)}")
        for key, error_a, error_b in rows:
            console.print(f"  {'/'.join(key)}: {describe(error_a)} -> {describe(error_b)}")
