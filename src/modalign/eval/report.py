"""Summaries, plots and comparisons of benchmark records."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .metrics import THRESHOLDS, error_auc, success_rate


def errors_of(records: Iterable[dict]) -> np.ndarray:
    """[N] errors with inf for failures."""
    return np.array([np.inf if r["error"] is None else r["error"] for r in records], dtype=float)


def statistics(records: list[dict]) -> dict[str, float]:
    """SR@5/10/20, median error, AUC@5/10/20 and mean time of a group of records."""
    errors = errors_of(records)
    stats: dict[str, float] = {"pairs": len(records)}
    for t in THRESHOLDS:
        stats[f"SR@{t:g}"] = success_rate(errors, t)
    stats["median"] = float(np.median(errors)) if len(errors) else float("inf")
    for t in THRESHOLDS:
        stats[f"AUC@{t:g}"] = error_auc(errors, t)
    stats["time"] = float(np.mean([r["time"] for r in records])) if records else 0.0
    return stats


def group(records: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    """Records grouped by the values of ``keys``, in first-seen order."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        groups[tuple(record[k] for k in keys)].append(record)
    return dict(groups)


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _row(name: str, stats: dict[str, float]) -> str:
    median = "fail" if not np.isfinite(stats["median"]) else f"{stats['median']:.2f}"
    cells = [name, str(int(stats["pairs"]))]
    cells += [_percent(stats[f"SR@{t:g}"]) for t in THRESHOLDS]
    cells += [median] + [f"{stats[f'AUC@{t:g}']:.3f}" for t in THRESHOLDS]
    cells += [f"{stats['time']:.2f}"]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| matcher | pairs | SR@5 | SR@10 | SR@20 | median px | AUC@5 | AUC@10 | AUC@20 | s/pair |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def summary_markdown(records: list[dict]) -> str:
    """Per set, per category and overall tables (markdown)."""
    matchers = list(dict.fromkeys(r["matcher"] for r in records))
    lines = ["## Overall (all sets)", "", HEADER]
    by_matcher = group(records, "matcher")
    lines += [_row(m, statistics(by_matcher[(m,)])) for m in matchers]
    for (set_name,), set_records in group(records, "set").items():
        lines += ["", f"## {set_name}", "", HEADER]
        by_matcher = group(set_records, "matcher")
        lines += [_row(m, statistics(by_matcher[(m,)])) for m in matchers]
        categories = group(set_records, "category")
        if len(categories) > 1:
            lines += ["", f"SR@10 per category of {set_name}:", ""]
            lines += ["| category | pairs | " + " | ".join(matchers) + " |"]
            lines += ["|---|---|" + "---|" * len(matchers)]
            for (category,), category_records in categories.items():
                by = group(category_records, "matcher")
                cells = [_percent(statistics(by[(m,)])["SR@10"]) for m in matchers]
                pairs = len(by[(matchers[0],)])
                lines.append(f"| {category} | {pairs} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_plots(records: list[dict], out: Path) -> list[Path]:
    """success_curves.png (per set and overall) and categories.png (SR@10 per category)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matchers = list(dict.fromkeys(r["matcher"] for r in records))
    sets = group(records, "set")
    panels = [("all sets", records)] + [(name, rs) for (name,), rs in sets.items()]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    thresholds = np.linspace(0, 20, 201)
    for axis, (title, panel) in zip(axes[0], panels, strict=True):
        by = group(panel, "matcher")
        for matcher in matchers:
            errors = errors_of(by.get((matcher,), []))
            axis.plot(thresholds, [success_rate(errors, t) for t in thresholds], label=matcher)
        axis.set(title=title, xlabel="error threshold (px)", ylim=(0, 1), xlim=(0, 20))
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("success rate")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    curves = out / "success_curves.png"
    figure.savefig(curves, dpi=110)
    plt.close(figure)

    categories = group(records, "set", "category")
    labels = [f"{s}/{c}" for s, c in categories]
    figure, axis = plt.subplots(figsize=(max(6, 0.55 * len(labels) * len(matchers) / 3), 4.5))
    width = 0.8 / len(matchers)
    for i, matcher in enumerate(matchers):
        values = [
            statistics([r for r in rs if r["matcher"] == matcher])["SR@10"]
            for rs in categories.values()
        ]
        axis.bar(np.arange(len(labels)) + i * width, values, width, label=matcher)
    axis.set_xticks(
        np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=60, ha="right", fontsize=7
    )
    axis.set(ylabel="SR@10", ylim=(0, 1))
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    bars = out / "categories.png"
    figure.savefig(bars, dpi=110)
    plt.close(figure)
    return [curves, bars]


def load_results(folder: str | Path) -> dict[str, Any]:
    """Read ``results.json`` of a bench output folder."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise InputError(str(path), "no results.json: not a bench output folder")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(str(path), f"not valid JSON ({err.msg})") from None


def compare(records_a: list[dict], records_b: list[dict]) -> dict[str, Any]:
    """Side-by-side statistics and per-pair changes at 10 px between two runs.

    Pairs are matched by (set, pair_id, matcher); when the runs share no matcher and each
    has exactly one, by (set, pair_id), so that two versions of one matcher compare.
    """
    matchers_a = {r["matcher"] for r in records_a}
    matchers_b = {r["matcher"] for r in records_b}
    by_pair_only = not (matchers_a & matchers_b) and len(matchers_a) == len(matchers_b) == 1
    keys = ("set", "pair_id") if by_pair_only else ("set", "pair_id", "matcher")
    index_a = {tuple(r[k] for k in keys): r for r in records_a}
    index_b = {tuple(r[k] for k in keys): r for r in records_b}
    common = [k for k in index_a if k in index_b]
    wins, losses = [], []
    for key in common:
        a, b = index_a[key], index_b[key]
        if b["success@10"] and not a["success@10"]:
            wins.append((key, a["error"], b["error"]))
        elif a["success@10"] and not b["success@10"]:
            losses.append((key, a["error"], b["error"]))
    table = []
    for group_key, group_a in group([index_a[k] for k in common], "set", "matcher").items():
        group_b = [index_b[tuple(r[k] for k in keys)] for r in group_a]
        table.append((group_key, statistics(group_a), statistics(group_b)))
    return {"pairs": len(common), "table": table, "wins": wins, "losses": losses}


GENERATED = (
    "not one of the shared data sets: a set generated by `modalign bench-make` "
    "(see docs/multi_instance.md) or provided by the user."
)
DATA_SOURCES = {
    "mmim": "Multimodal image matching database of J. Jiang, J. Ma, G. Xiao, Z. Shao, X. Guo, "
    '"A review of multimodal image matching: Methods and applications", Information Fusion 73 '
    "(2021); GitHub StaRainJ/Multi-modality-image-matching-database-metrics-methods.",
    "visnir": "VIS-NIR registration dataset (GitHub YuChuang1205/VIS-NIR-registration-dataset), "
    "built on the EPFL RGB-NIR scene dataset (M. Brown, S. Süsstrunk, CVPR 2011); subset field.",
    "visnir_country": "Same source as visnir; subset country (pre-aligned).",
    "roadscene": "RoadScene (GitHub hanna-xu/RoadScene; H. Xu et al., FusionDN, AAAI 2020; "
    "images from the FLIR ADAS dataset).",
    "aanlib": "Harvard Whole Brain Atlas (AANLIB), as published in GitHub "
    "xianming-gu/Havard-Medical-Image-Fusion-Datasets.",
}


def benchmark_document(meta: dict[str, Any], records: list[dict]) -> str:
    """The results page (docs/benchmarks.md): provenance, tables and data sources."""
    sets = list(dict.fromkeys(r["set"] for r in records))
    lines = [
        "# Benchmarks",
        "",
        "Generated by the benchmark harness; do not edit by hand. Re-generate with:",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}",
        f"- modalign {meta['version']}, {meta['workers']} worker process(es); this invocation "
        f"computed {meta['computed']} predictions and reused {meta['reused']} from the cache "
        f"in {meta['wall_seconds'] / 60:.1f} min; all {len(records)} registrations together took "
        f"{sum(r['time'] for r in records) / 60:.0f} min of one core",
        "- protocol: ../shared/data/README.md — mean landmark error where landmarks exist, "
        "else mean error over a 10×10 grid on the moving image; pre-aligned pairs are warped "
        f"by a random homography seeded per pair (seed {meta['seed']}); a failed registration "
        "counts as a failure at every threshold. SR@t = success rate at t px; AUC@t = area "
        "under the cumulative error curve up to t px. s/pair = registration time per pair "
        "(matching, robust fit, refinement) in one worker process.",
        f"- registration settings: `{json.dumps(meta['register'], sort_keys=True)}`; "
        f"precision of the learned matchers: {meta.get('precision', 'fp32')}; "
        f"their device: {meta.get('device', 'cpu')}",
        "",
        summary_markdown(records),
        "## Data sources",
        "",
    ]
    for name in sets:
        lines.append(f"- `{name}`: {DATA_SOURCES.get(name, GENERATED)}")
    return "\n".join(lines) + "\n"
