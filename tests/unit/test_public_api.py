"""The public namespace of each package is exactly what its __all__ says, and every name
resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import mlops_lab

PUBLIC = {
    "mlops_lab": [
        "BadDataError", "ConfigError", "DatasetError", "DatasetVersion", "Datasets", "Endpoint",
        "EndpointError", "Lab", "LabConnectionError", "LabError", "LabNotRunningError",
        "LabStatus", "ModelVersion", "QueryError", "ReadOnlyError", "Registry", "RegistryError",
        "SchemaError", "Settings", "Store", "StoreClient", "StoreError", "StoreLockedError",
        "StoreUnavailableError", "TrafficView", "Trial", "TuneError", "TuneRun",
        "UntrustedArtifactError", "connect", "describe_settings", "load_ipython_extension",
        "load_settings",
    ],
    "mlops_lab.data": ["DatasetError", "DatasetVersion", "Datasets"],
    "mlops_lab.monitor": ["Monitor", "MonitorError", "PassReport"],
    "mlops_lab.protocol": [
        "DATATYPES", "HEADER", "FeatureKind", "FeedbackItem", "RequestError", "binary_outputs",
        "check_count", "decode_tensor", "describe", "encode_response", "encode_tensor",
        "feature_datatype", "feature_kind", "infer_response", "model_metadata", "not_served",
        "openapi", "output_datatype", "parse_feedback", "parse_infer", "parse_instances",
        "plural", "read_json", "refuse", "served_version", "shown", "split_body",
        "to_json_values", "v2_datatype",
    ],
    "mlops_lab.registry": ["ModelVersion", "Registry", "RegistryError", "UntrustedArtifactError"],
    "mlops_lab.routing": [
        "POLICIES", "REWARDS", "UCB1", "Decision", "DiscountedThompson", "EpsilonGreedy",
        "Event", "LinUCB", "Policy", "PolicyError", "SlidingWindowUCB", "Thompson",
        "WeightedSplit", "make_policy", "reward_of", "same_value",
    ],
    "mlops_lab.sample_data": ["churn_frame", "churn_traffic", "feedback_rows", "request_rows"],
    "mlops_lab.serve": ["Endpoint", "EndpointError", "TrafficView"],
    "mlops_lab.stats": [
        "CATEGORICAL_TESTS", "CORRECTIONS", "Estimate", "FeatureDrift", "NUMERIC_TESTS",
        "StatsError", "adjust", "categorical_drift", "expected_accuracy", "feature_drift",
        "mean_absolute_error", "numeric_drift", "proportion", "proportion_below",
        "root_mean_squared_error",
    ],
    "mlops_lab.store": [
        "BadDataError", "Batch", "QueryError", "ReadOnlyError", "SchemaError", "Store",
        "StoreClient", "StoreError", "StoreLockedError", "StoreUnavailableError", "TableSpec",
    ],
    "mlops_lab.train": ["Trial", "TrialState", "TuneError", "TuneRun", "run_tune"],
    "mlops_lab.ui": ["MonitorView"],
}  # fmt: skip
PACKAGES = [name for name in PUBLIC if name != "mlops_lab.sample_data"]  # a module: no dir()


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_exactly_the_public_surface(name: str) -> None:
    """Each public package's and module's __all__ is the expected list, in its order."""
    assert importlib.import_module(name).__all__ == PUBLIC[name]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_name_in_all_resolves(name: str) -> None:
    """Each name in __all__ is importable from its package or module."""
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if getattr(module, n, None) is None]
    assert missing == []


@pytest.mark.parametrize("name", PACKAGES)
def test_dir_lists_the_public_names_only(name: str) -> None:
    """The names dir() shows without a leading underscore are __all__'s, sorted; a package
    that imports its names at once also holds the ``annotations`` feature of its
    ``from __future__`` line, and nothing else."""
    shown = [n for n in dir(importlib.import_module(name)) if not n.startswith("_")]
    lazy = {
        "mlops_lab",
        "mlops_lab.monitor",
        "mlops_lab.serve",
        "mlops_lab.stats",
        "mlops_lab.train",
        "mlops_lab.ui",
    }
    future = [] if name in lazy else ["annotations"]
    assert shown == sorted(PUBLIC[name] + future)


def test_the_root_all_is_sorted() -> None:
    """The root package's __all__ is in plain sorted order."""
    assert mlops_lab.__all__ == sorted(mlops_lab.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name that is not exported raises AttributeError naming it."""
    try:
        mlops_lab.conect  # noqa: B018
    except AttributeError as exc:
        assert "conect" in str(exc)
    else:
        raise AssertionError("mlops_lab.conect resolved")


def test_importing_a_trial_module_stays_light() -> None:
    """What a Tune worker imports to run a trial does not load Serve or the notebook faces."""
    code = (
        "import sys, mlops_lab.train._trainable\n"
        "loaded = ('ray.serve', 'ipywidgets', 'mlops_lab.runtime')\n"
        "heavy = [m for m in loaded if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
