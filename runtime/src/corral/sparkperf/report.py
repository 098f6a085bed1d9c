"""spark-perf results → statistics, JSON, CSV, a markdown table and a PNG plot.

`parse_results` reads spark-perf's `results: {json}` line from a driver's
output; `summarize` computes what spark-perf's `stats_for_results` does
(median, population std, min, first, last) over the trials left after
ignoring the first ones; `write_report` writes `<name>.json`, `.csv`, `.md`
and `.png`.  The plot follows figure 10 of the K-ONE #3 document: running
time per scale factor, grouped by scheduling mode, training and test time.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable

RESULTS_TOKEN = "results: "
MODE_LABELS = {"coarse": "Coarse-grained", "fine": "Fine-grained", "standalone": "Spark standalone"}


class ReportError(ValueError):
    pass


def parse_results(output: str) -> dict[str, Any]:
    """The JSON of the last `results: ` line of a spark-perf test's output."""
    lines = [line for line in output.splitlines() if line.startswith(RESULTS_TOKEN)]
    if not lines:
        raise ReportError("the test did not print a 'results: {...}' line")
    try:
        report = json.loads(lines[-1][len(RESULTS_TOKEN):])
    except ValueError as exc:
        raise ReportError(f"the 'results:' line is not JSON: {exc}") from None
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise ReportError("the 'results:' JSON has no 'results' list")
    return report


@dataclass(frozen=True)
class Stats:
    median: float
    std: float
    min: float
    first: float
    last: float

    @classmethod
    def of(cls, values: Iterable[float]) -> "Stats":
        values = [float(v) for v in values]
        if not values:
            raise ReportError("no values to summarize")
        ordered = sorted(values)
        n = len(ordered)
        median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
        mean = sum(ordered) / n
        std = math.sqrt(sum((mean - v) ** 2 for v in ordered) / n)
        return cls(median, std, ordered[0], values[0], values[-1])


METRICS = ("trainingTime", "testTime", "trainingMetric", "testMetric")


def summarize(report: dict[str, Any], ignored_trials: int = 2) -> dict[str, Stats]:
    results = report["results"]
    if len(results) <= ignored_trials:
        raise ReportError(f"Expecting at least {ignored_trials + 1} results but only found {len(results)}")
    kept = results[ignored_trials:]
    return {m: Stats.of(r[m] for r in kept) for m in METRICS if all(m in r for r in kept)}


def row(mode: str, scale_factor: float, report: dict[str, Any], ignored_trials: int, **extra: Any) -> dict[str, Any]:
    """One line of the report: a (mode, scale factor) run summarized."""
    stats = summarize(report, ignored_trials)
    options = report.get("options", {})
    out: dict[str, Any] = {
        "mode": mode,
        "scale_factor": scale_factor,
        "num_examples": options.get("num-examples"),
        "num_features": options.get("num-features"),
        "num_partitions": options.get("num-partitions"),
        "trials": len(report["results"]),
        "ignored_trials": ignored_trials,
    }
    for metric, s in stats.items():
        for key, value in asdict(s).items():
            out[f"{metric}_{key}"] = round(value, 4)
    out.update(extra)
    return out


CSV_COLUMNS = ["mode", "scale_factor", "num_examples", "num_features", "num_partitions", "trials", "ignored_trials",
               "trainingTime_median", "trainingTime_std", "trainingTime_min", "trainingTime_first", "trainingTime_last",
               "testTime_median", "testTime_std", "testTime_min", "testTime_first", "testTime_last",
               "trainingMetric_median", "testMetric_median"]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ("| mode | scale factor | examples | partitions | training median (s) | std | min | "
            "test median (s) | std | min | trials (ignored) |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {MODE_LABELS.get(r['mode'], r['mode'])} | {r['scale_factor']:g} | {r['num_examples']} | {r['num_partitions']} | "
            f"{r['trainingTime_median']:.3f} | {r['trainingTime_std']:.3f} | {r['trainingTime_min']:.3f} | "
            f"{r['testTime_median']:.3f} | {r['testTime_std']:.3f} | {r['testTime_min']:.3f} | "
            f"{r['trials']} ({r['ignored_trials']}) |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: str, title: str) -> None:
    """Bars of median running time (std as error bars) per scale factor, grouped by mode (figure 10's layout)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in ("coarse", "fine", "standalone") if any(r["mode"] == m for r in rows)]
    modes += sorted({r["mode"] for r in rows} - set(modes))
    scales = sorted({r["scale_factor"] for r in rows})
    by_key = {(r["mode"], r["scale_factor"]): r for r in rows}
    colors = {("coarse", "trainingTime"): "#1f4e9c", ("fine", "trainingTime"): "#d9822b",
              ("coarse", "testTime"): "#7fa7e0", ("fine", "testTime"): "#f2c28b",
              ("standalone", "trainingTime"): "#3c8d40", ("standalone", "testTime"): "#a5d6a7"}
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(7.0, 1.3 * len(scales) * len(modes) + 2), 4.8))
    ticks, labels, group_centers = [], [], []
    x = 0.0
    drawn: set[str] = set()
    for mode in modes:
        start = x
        for scale in scales:
            r = by_key.get((mode, scale))
            if r is not None:
                for offset, metric in ((-width / 2, "trainingTime"), (width / 2, "testTime")):
                    label = f"{mode.capitalize()}-{'Training' if metric == 'trainingTime' else 'Test'}-Time"
                    ax.bar(x + offset, r[f"{metric}_median"], width, yerr=r[f"{metric}_std"], capsize=3,
                           color=colors.get((mode, metric), "#888888"), label=None if label in drawn else label)
                    drawn.add(label)
            ticks.append(x)
            labels.append(f"{scale:g}")
            x += 1.0
        group_centers.append(((start + x - 1.0) / 2, MODE_LABELS.get(mode, mode)))
        x += 0.8
    ax.set_xticks(ticks, labels)
    ax.set_ylabel("Running Time (s)")
    ax.set_xlabel("Workload: scale-factor of Spark-Perf")
    for center, name in group_centers:
        ax.annotate(name, xy=(center, 0), xycoords=("data", "axes fraction"), xytext=(0, -38),
                    textcoords="offset points", ha="center", va="top", fontweight="bold")
    ax.set_title(title, pad=12 + 14 * math.ceil(len(drawn) / 4))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize="small", ncol=4, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(rows: list[dict[str, Any]], out_dir: str, name: str = "kmeans", title: str | None = None,
                 meta: dict[str, Any] | None = None, runs: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Write <name>.json, .csv, .md and .png into out_dir; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["mode"], r["scale_factor"]))
    title = title or "K-Means Test Result on Corral Cluster"
    paths = {ext: os.path.join(out_dir, f"{name}.{ext}") for ext in ("json", "csv", "md", "png")}
    with open(paths["json"], "w") as fh:
        json.dump({"test": "kmeans", "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "title": title,
                   **(meta or {}), "rows": rows, "runs": runs or []}, fh, indent=2)
    with open(paths["csv"], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with open(paths["md"], "w") as fh:
        fh.write(f"# {title}\n\n")
        if meta:
            for key, value in meta.items():
                if not isinstance(value, (dict, list)):
                    fh.write(f"- {key}: {value}\n")
            fh.write("\n")
        fh.write(markdown_table(rows))
        fh.write(f"\n![{title}]({os.path.basename(paths['png'])})\n")
    plot(rows, paths["png"], title)
    return paths
