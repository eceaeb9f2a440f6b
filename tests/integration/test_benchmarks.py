"""Every benchmark still runs: its --smoke mode prints one JSON object last, with its keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(path.name for path in BENCH.glob("*.py") if not path.name.startswith("_"))
# The keys each benchmark's docstring promises (and the goals are read from).
KEYS = {
    "store_ingest.py": {
        "rows", "store_rows_per_s", "raw_rows_per_s", "ratio", "duplicates", "first_append_s",
        "settle_s", "rounds", "pooled_ratio", "round_ratios",
    },
    "tune_overhead.py": {
        "configs", "lab_wall_s", "gridsearch_wall_s", "ratio", "per_trial_overhead_ms",
        "asha_to_best_ratio", "asha_wall_ratio",
    },
    "bandit_regret.py": {
        "regret", "ratio_to_ts", "decision_us", "decision_p50_us", "decision_p99_us",
    },
    "drift_calibration.py": {
        "alpha", "false_alarm_feature", "false_alarm_multivariate", "power_feature",
        "power_multivariate", "named_share", "online_run_length_ratio", "online_delay_rows",
    },
    "monitor_pass.py": {
        "log_rows", "window_rows", "pass_s", "pass_s_small_log", "growth", "peer_s",
        "ratio_to_peer", "explain_tree_ms", "explain_kernel_ms", "explain_again_ms",
    },
    "latency.py": {
        "ray_start_s", "serve_start_s", "bare_deploy_s", "ready_s", "first_predict_s",
        "next_deploy_s", "route_change_s", "reattach_s", "cold_s", "ready_ratio",
        "first_deploy_ratio", "next_deploy_ratio", "route_change_ratio", "cold_ratio",
    },
    "serve_overhead.py": {
        "rps_ratio", "added_p50_ms", "p99_ratio_logging_on_off", "lost_logs", "bandit_p99_ratio",
    },
}  # fmt: skip


def test_every_benchmark_is_listed() -> None:
    """A new benchmark names the keys it prints here, so that its smoke run checks them."""
    assert sorted(KEYS) == SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_smoke_run_prints_its_json_last(script: str) -> None:
    """``--smoke`` exits 0 and its last line is a JSON object holding the documented keys."""
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        cwd=BENCH.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert KEYS[script] <= set(summary), sorted(KEYS[script] - set(summary))
