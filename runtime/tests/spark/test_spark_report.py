"""spark-perf result parsing, statistics and the report files."""

from __future__ import annotations

import csv
import json

import pytest

from corral.sparkperf.kmeans import generator_parameters, parse_args
from corral.sparkperf.report import ReportError, Stats, parse_results, row, summarize, write_report


def kmeans_report(training: list[float], test: list[float], examples: int = 1000) -> dict:
    return {"testName": "kmeans", "options": {"num-examples": examples, "num-features": 10000, "num-partitions": 1},
            "results": [{"trainingTime": a, "testTime": b, "trainingMetric": 1.0, "testMetric": 1.1}
                        for a, b in zip(training, test)]}


def test_parse_results_takes_the_last_results_line() -> None:
    output = "noise\nresults: {\"results\": [1]}\nmore\nresults: " + json.dumps(kmeans_report([1.0], [2.0])) + "\n"
    assert parse_results(output)["testName"] == "kmeans"
    with pytest.raises(ReportError, match="did not print"):
        parse_results("no results here")
    with pytest.raises(ReportError, match="not JSON"):
        parse_results("results: {oops")


def test_stats_are_spark_perfs() -> None:
    s = Stats.of([4.0, 1.0, 3.0, 2.0])
    assert (s.median, s.min, s.first, s.last) == (2.5, 1.0, 4.0, 2.0)
    assert s.std == pytest.approx(1.118034, rel=1e-6)  # population standard deviation
    summary = summarize(kmeans_report([9, 8, 2, 3, 4], [1, 1, 1, 2, 3]), ignored_trials=2)
    assert summary["trainingTime"].median == 3 and summary["testTime"].median == 2
    with pytest.raises(ReportError, match="at least 3 results but only found 2"):
        summarize(kmeans_report([1, 2], [1, 2]), ignored_trials=2)


def test_write_report_files(tmp_path) -> None:
    rows = [row(mode, scale, kmeans_report([5, 4, 3 * scale * 1000, 3], [1, 1, 0.5, 0.6], int(1e6 * scale)), 2)
            for mode in ("coarse", "fine") for scale in (0.001, 0.01)]
    paths = write_report(rows, str(tmp_path), meta={"cluster": "2 agents"})
    data = json.loads(open(paths["json"]).read())
    assert len(data["rows"]) == 4 and data["cluster"] == "2 agents"
    with open(paths["csv"]) as fh:
        lines = list(csv.DictReader(fh))
    assert lines[0]["mode"] == "coarse" and float(lines[0]["trainingTime_median"]) > 0
    table = open(paths["md"]).read()
    assert "| Coarse-grained | 0.001 |" in table and "| Fine-grained | 0.01 |" in table
    png = open(paths["png"], "rb").read()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_kmeans_options_scale_like_spark_perf() -> None:
    args = parse_args(["--scale-factor", "0.001"])
    assert (args.num_examples, args.num_partitions, args.num_features, args.num_centers, args.num_iterations,
            args.num_trials) == (1000, 1, 10000, 20, 20, 10)
    assert parse_args(["--scale-factor", "0.1"]).num_partitions == 12
    scales, cumulative = generator_parameters(20, 5)
    assert len(scales) == 20 and all(-10 <= s < 10 for s in scales)
    assert cumulative[-1] == 1.0 and cumulative == sorted(cumulative)
