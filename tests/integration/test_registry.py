"""The model registry on a real store: round trips, versions, aliases, trust, refusals."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.cluster import Birch
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlops_lab.registry import Registry, RegistryError, UntrustedArtifactError
from mlops_lab.store import Batch, Store, StoreClient
from mlops_lab.store._store import Params
from tests.integration._custom_model import MeanRegressor, double

IRIS_X, IRIS_Y = load_iris(return_X_y=True, as_frame=True)
DOUBLE = "tests.integration._custom_model.double"
MEAN_REGRESSOR = "tests.integration._custom_model.MeanRegressor"


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store)


@functools.cache
def iris_model(c: float = 1.0) -> LogisticRegression:
    """A fitted classifier, fitted once per C: registering never changes a model."""
    return LogisticRegression(C=c, max_iter=1000).fit(IRIS_X, IRIS_Y)


def test_a_classifier_loaded_back_predicts_identically(registry: Registry) -> None:
    """Predictions and probabilities of the loaded classifier equal the original's."""
    model = iris_model()
    registered = registry.register("iris", model, reference=IRIS_X)
    loaded = registry.load("iris")
    np.testing.assert_array_equal(model.predict(IRIS_X), loaded.predict(IRIS_X))
    np.testing.assert_array_equal(model.predict_proba(IRIS_X), loaded.predict_proba(IRIS_X))
    assert registered.flavor == "skops"
    assert registered.signature["task"] == "classification"
    assert registered.signature["classes"] == [0, 1, 2]
    assert "predict_proba" in registered.signature["methods"]
    assert [item["name"] for item in registered.signature["inputs"]] == list(IRIS_X.columns)


def test_a_pipeline_fitted_on_arrays_round_trips(registry: Registry) -> None:
    """A scaler + classifier Pipeline fitted on an array predicts the same after loading."""
    X = IRIS_X.to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, IRIS_Y)
    registered = registry.register("pipe", model, reference=X[:20])
    loaded = registry.load("pipe@1")
    np.testing.assert_array_equal(model.predict_proba(X), loaded.predict_proba(X))
    assert [item["name"] for item in registered.signature["inputs"]] == ["x0", "x1", "x2", "x3"]
    assert list(registry.reference("pipe").columns) == ["x0", "x1", "x2", "x3"]


def test_a_regressor_round_trips(registry: Registry) -> None:
    """A regressor predicts the same after loading; its signature says regression."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Ridge(alpha=0.5).fit(X, y)
    registered = registry.register("diabetes", model, reference=X)
    np.testing.assert_array_equal(model.predict(X), registry.load("diabetes").predict(X))
    assert registered.signature["task"] == "regression"
    assert registered.signature["classes"] is None
    assert registered.signature["output_dtype"] == "float64"
    assert "predict_proba" not in registered.signature["methods"]


def test_versions_increment_per_name(registry: Registry) -> None:
    """Each name counts its own versions from 1; the bare name loads the latest."""
    versions = [registry.register("a", iris_model(c)).version for c in (1.0, 0.1, 0.01)]
    assert versions == [1, 2, 3]
    assert registry.register("b", iris_model()).version == 1
    assert registry.load("a").C == 0.01
    assert registry.load("a@2").C == 0.1


def test_aliases_move_and_loading_follows_them(registry: Registry) -> None:
    """Moving 'champion' makes name@champion load the version it now points at."""
    registry.register("iris", iris_model(1.0), aliases=["champion"])
    registry.register("iris", iris_model(0.1), aliases="challenger")
    assert registry.aliases("iris") == {"challenger": 2, "champion": 1}
    assert registry.load("iris@champion").C == 1.0
    registry.set_alias("iris", "champion", 2)
    assert registry.aliases("iris") == {"challenger": 2, "champion": 2}
    assert registry.load("iris@champion").C == 0.1
    assert registry.get("iris@2").aliases == ("challenger", "champion")
    assert registry.get("iris@1").aliases == ()


def test_a_deleted_alias_is_ignored_by_every_read(registry: Registry, store: Store) -> None:
    """A deleted alias is kept as a version -1 row that no read shows or follows."""
    registry.register("iris", iris_model(), aliases=["champion", "challenger"])
    registry.delete_alias("iris", "challenger")
    assert registry.aliases("iris") == {"champion": 1}
    assert registry.get("iris@1").aliases == ("champion",)
    assert registry.list()["aliases"].tolist() == [["champion"]]
    with pytest.raises(RegistryError, match="no alias 'challenger'. Its aliases: champion -> 1"):
        registry.load("iris@challenger")
    stored = store.sql("SELECT alias, version FROM model_aliases ORDER BY alias")
    assert stored.to_dict("records") == [
        {"alias": "challenger", "version": -1},
        {"alias": "champion", "version": 1},
    ]
    registry.set_alias("iris", "challenger", 1)
    assert registry.aliases("iris") == {"challenger": 1, "champion": 1}


@pytest.mark.parametrize(
    ("make_model", "untrusted"),
    [
        (
            lambda: make_pipeline(FunctionTransformer(double), LogisticRegression(max_iter=1000)),
            DOUBLE,
        ),
        (lambda: MeanRegressor(shift=1.0), MEAN_REGRESSOR),
    ],
    ids=["function", "estimator-class"],
)
def test_an_untrusted_type_loads_only_once_trusted(
    registry: Registry, store: Store, make_model: Callable[[], Any], untrusted: str
) -> None:
    """Registering and loading need the artifact's untrusted type named in ``trusted``."""
    model = make_model().fit(IRIS_X.to_numpy(), IRIS_Y)
    with pytest.raises(UntrustedArtifactError, match=rf"\['{untrusted}'\]"):
        registry.register("custom", model)
    assert store.counts()["models"] == 0
    registered = registry.register("custom", model, trusted=[untrusted])
    assert registered.untrusted_types == (untrusted,)
    call = f"registry.load('custom@1', trusted=['{untrusted}'])"
    for trusted in ([], ["sklearn.tree._tree.Tree"]):
        with pytest.raises(UntrustedArtifactError) as refused:
            registry.load("custom@1", trusted=trusted)
        assert call in str(refused.value)
    loaded = registry.load("custom@1", trusted=[untrusted])
    np.testing.assert_array_equal(
        model.predict(IRIS_X.to_numpy()), loaded.predict(IRIS_X.to_numpy())
    )


def test_pickle_is_used_and_loaded_only_with_the_opt_in(registry: Registry, store: Store) -> None:
    """A model skops cannot write needs allow_pickle to register and to load."""
    X = IRIS_X.to_numpy()
    model = Birch(n_clusters=3).fit(X)
    with pytest.raises(
        RegistryError, match=r"skops cannot serialise this Birch.*allow_pickle=True"
    ):
        registry.register("birch", model)
    assert store.counts()["models"] == 0
    assert registry.register("birch", model, allow_pickle=True).flavor == "pickle"
    with pytest.raises(UntrustedArtifactError, match=r"arbitrary code.*allow_pickle=True"):
        registry.load("birch")
    np.testing.assert_array_equal(
        model.predict(X), registry.load("birch", allow_pickle=True).predict(X)
    )


def test_a_model_neither_skops_nor_pickle_can_store_is_refused(
    registry: Registry, store: Store
) -> None:
    """A lambda cannot be read back by skops nor pickled; the error says so."""
    model = FunctionTransformer(lambda x: x).fit(IRIS_X.to_numpy())
    with pytest.raises(RegistryError, match="skops cannot serialise"):
        registry.register("lambda", model)
    with pytest.raises(RegistryError, match="pickle cannot either"):
        registry.register("lambda", model, allow_pickle=True)
    assert store.counts()["models"] == 0


def test_samples_hold_the_models_features_in_order(registry: Registry) -> None:
    """Reference keeps the model's columns in fit order; background defaults to 100 rows."""
    model = iris_model()
    shuffled = IRIS_X.assign(target=IRIS_Y)[["target", *reversed(IRIS_X.columns)]]
    registry.register("iris", model, reference=shuffled)
    pd.testing.assert_frame_equal(registry.reference("iris"), IRIS_X)
    background = registry.background("iris")
    assert len(background) == 100
    assert len(background.merge(IRIS_X).drop_duplicates()) == len(background.drop_duplicates())
    registry.register("iris", model, reference=IRIS_X, background=IRIS_X.to_numpy()[:5])
    pd.testing.assert_frame_equal(registry.background("iris@2"), IRIS_X.head(5))
    registry.register("iris", model)
    with pytest.raises(RegistryError, match="iris@3 has no reference sample"):
        registry.reference("iris@3")


def test_registration_writes_its_event_and_lineage(registry: Registry, store: Store) -> None:
    """A model.registered event names the version; lineage names trial and dataset."""
    registry.register("iris", iris_model(), dataset="iris@abc123def456", trial_id="t-7",
                      aliases=["champion"])  # fmt: skip
    events = store.sql("SELECT kind, subject, details FROM events")
    assert events[["kind", "subject"]].to_dict("records") == [
        {"kind": "model.registered", "subject": "iris@1"}
    ]
    assert '"aliases":["champion"]' in events["details"][0]
    stored = store.sql("SELECT dataset_name, dataset_version, trial_id FROM models")
    assert stored.to_dict("records") == [
        {"dataset_name": "iris", "dataset_version": "abc123def456", "trial_id": "t-7"}
    ]
    assert registry.lineage("iris@champion") == {
        "model": "iris@1", "trial_id": "t-7", "dataset": "iris@abc123def456",
    }  # fmt: skip


def test_compare_puts_metrics_and_params_side_by_side(registry: Registry) -> None:
    """One column per ref; a metric or param a version lacks is missing."""
    registry.register("iris", iris_model(), metrics={"accuracy": 0.9}, params={"C": 1.0})
    registry.register("iris", iris_model(), metrics={"accuracy": 0.95, "f1": 0.94},
                      params={"C": 0.1, "penalty": "l2"}, aliases=["champion"])  # fmt: skip
    compared = registry.compare("iris@1", "iris@champion").drop(index="created_at")
    expected = pd.DataFrame(
        {
            "iris@1": ["iris@1", 0.9, np.nan, 1.0, np.nan],
            "iris@champion": ["iris@2", 0.95, 0.94, 0.1, "l2"],
        },
        index=["model", "metrics.accuracy", "metrics.f1", "params.C", "params.penalty"],
        dtype=object,
    )
    pd.testing.assert_frame_equal(expected, compared)


def test_list_shows_versions_newest_first(registry: Registry) -> None:
    """Each version is a row with its aliases and metrics; the newest comes first."""
    registry.register("iris", iris_model(), metrics={"accuracy": 0.9})
    registry.register("other", iris_model())
    registry.register("iris", iris_model(), metrics={"accuracy": 0.95}, aliases=["champion"])
    listed = registry.list()
    assert listed[["name", "version"]].values.tolist() == [["iris", 2], ["other", 1], ["iris", 1]]
    only_iris = registry.list("iris")
    assert only_iris[["version", "aliases", "metrics.accuracy"]].to_dict("records") == [
        {"version": 2, "aliases": ["champion"], "metrics.accuracy": 0.95},
        {"version": 1, "aliases": [], "metrics.accuracy": 0.9},
    ]
    assert only_iris["created_at"].is_monotonic_decreasing


GOOD: dict[str, Any] = {"name": "iris", "reference": IRIS_X}
BAD_REGISTRATIONS: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "'name' parameter of register"),
    ({"name": "iris@2"}, "without '@'"),
    ({"name": "my model"}, "whitespace"),
    ({"name": 3}, "Got 3 instead"),
    ({"model": LogisticRegression()}, "not fitted yet"),
    ({"model": "model.pkl"}, "Got str instead"),
    ({"aliases": ["7"]}, "read as version 7"),
    ({"aliases": ["best model"]}, "whitespace"),
    ({"aliases": [7]}, "list of strings"),
    ({"metrics": {"accuracy": "high"}}, "metric 'accuracy'"),
    ({"metrics": {"loss": float("nan")}}, "metric 'loss'"),
    ({"metrics": {"ok": 0.5, "flag": True}}, "metric 'flag'"),
    ({"metrics": [0.9]}, "dict of metric names"),
    ({"params": "C=1"}, "'params' parameter"),
    ({"reference": IRIS_X.iloc[:, :3]}, r"lacks the model's features \['petal width \(cm\)'\]"),
    ({"reference": np.zeros((5, 3))}, "has 3 columns; the model was fitted on 4"),
    ({"reference": np.zeros(4)}, "2-D array"),
    ({"reference": IRIS_X.head(0)}, "no rows"),
    (
        {"reference": IRIS_X.astype(str).assign(**{"sepal length (cm)": "long"})},
        "could not predict",
    ),
    ({"background": np.zeros((5, 2))}, "'background' sample"),
    ({"dataset": "iris@"}, "'dataset' parameter"),
    ({"dataset": "iris data@v1"}, "'dataset' parameter"),
    ({"trial_id": 17}, "'trial_id' parameter"),
    ({"description": ["x"]}, "'description' parameter"),
    ({"trusted": [int]}, "'trusted' parameter"),
]


@pytest.mark.parametrize(("change", "message"), BAD_REGISTRATIONS)
def test_a_bad_registration_is_refused_and_writes_nothing(
    registry: Registry, store: Store, change: dict[str, Any], message: str
) -> None:
    """Every bad argument is refused with a message naming it; no table changes."""
    registry.register("iris", iris_model(), aliases=["champion"])
    before = store.counts()
    arguments = {**GOOD, "model": iris_model(), **change}
    with pytest.raises(RegistryError, match=message):
        registry.register(arguments.pop("name"), arguments.pop("model"), **arguments)
    assert store.counts() == before
    assert registry.aliases("iris") == {"champion": 1}


BAD_CALLS: list[tuple[Callable[[Registry], object], str]] = [
    (lambda r: r.load("nope"), "No model named 'nope' is registered. Registered models: 'iris'"),
    (lambda r: r.load("iris@9"), r"no version 9. Its versions: \[1\]"),
    (lambda r: r.load("iris@nope"), "no alias 'nope'. Its aliases: champion -> 1"),
    (lambda r: r.get("iris@"), "'ref' parameter of get"),
    (lambda r: r.get(3), "'ref' parameter of get"),
    (lambda r: r.load("iris", trusted=[None]), "'trusted' parameter of load"),
    (lambda r: r.set_alias("iris", "champion", 9), r"one of \[1\]. Got 9"),
    (lambda r: r.set_alias("iris", "champion", "1"), "Got '1' instead"),
    (lambda r: r.set_alias("iris", "2", 1), "read as version 2"),
    (lambda r: r.set_alias("nope", "champion", 1), "No model named 'nope'"),
    (lambda r: r.delete_alias("iris", "challenger"), "no alias 'challenger'"),
    (lambda r: r.aliases("nope"), "No model named 'nope'"),
    (lambda r: r.list("nope"), "No model named 'nope'"),
    (lambda r: r.compare(), "one or more distinct"),
    (lambda r: r.compare("iris", "iris"), "one or more distinct"),
    (lambda r: r.background("iris"), "has no background sample"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_a_bad_call_names_what_is_known_and_writes_nothing(
    registry: Registry, store: Store, call: Callable[[Registry], object], message: str
) -> None:
    """Unknown names, versions and aliases are refused, listing the known ones."""
    registry.register("iris", iris_model(), aliases=["champion"])
    before = store.counts()
    with pytest.raises(RegistryError, match=message):
        call(registry)
    assert store.counts() == before


class RacingStore(StoreClient):
    """The real store, with another registration slipping in before each model write."""

    def __init__(self, inner: Store, races: int) -> None:
        self.inner = inner
        self.races = races

    def write(self, batches: Mapping[str, Batch]) -> dict[str, int]:
        if "models" in batches and self.races:
            self.races -= 1
            Registry(self.inner).register("iris", iris_model(0.5))
        return self.inner.write(batches)

    def query(self, sql: str, params: Params = None) -> pa.Table:
        return self.inner.query(sql, params)


def test_a_version_number_lost_to_a_race_is_retried(store: Store) -> None:
    """When another registration takes the number first, the next one is used."""
    racing = Registry(RacingStore(store, races=1))
    registered = racing.register("iris", iris_model(2.0), aliases=["champion"])
    assert registered.version == 2
    assert racing.aliases("iris") == {"champion": 2}
    assert racing.load("iris@1").C == 0.5
    subjects = store.sql("SELECT subject FROM events ORDER BY subject")["subject"].tolist()
    assert subjects == ["iris@1", "iris@2"]


def test_losing_every_race_registers_nothing_and_restores_aliases(store: Store) -> None:
    """After the bounded attempts, the call fails and the aliases point where they did."""
    Registry(store).register("iris", iris_model(), aliases=["champion"])
    racing = Registry(RacingStore(store, races=100))
    with pytest.raises(RegistryError, match="lost the race"):
        racing.register("iris", iris_model(2.0), aliases=["champion", "fresh"])
    assert racing.aliases("iris") == {"champion": 1}
    stored_c = [racing.get(f"iris@{version}").params["C"] for version in range(1, 12)]
    assert stored_c == [1.0] + [0.5] * 10


def test_concurrent_registrations_take_distinct_versions(registry: Registry) -> None:
    """Threads registering one name at once end with versions 1..n, none lost."""
    errors: list[BaseException] = []

    def register_twice() -> None:
        try:
            for _ in range(2):
                registry.register("iris", iris_model())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register_twice) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(registry.list("iris")["version"]) == [1, 2, 3, 4, 5, 6]
