"""The dataset registry over a real Store: versions by content, lineage, loads, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_lab.data import DatasetError, Datasets
from mlops_lab.store import Batch, Store, StoreClient
from mlops_lab.store._migrations import MIGRATIONS


@pytest.fixture
def datasets(store: Store) -> Datasets:
    return Datasets(store)


class RecordingClient(StoreClient):
    """A StoreClient over a real Store that keeps the table names of every write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.writes: list[list[str]] = []

    def write(self, batches: Mapping[str, Batch]) -> dict[str, int]:
        self.writes.append(sorted(batches))
        return self.store.write(batches)

    def query(self, sql: str, params: Any = None) -> pa.Table:
        return self.store.query(sql, params)


def frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    """A small mixed-type frame with a categorical target."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": rng.normal(50_000, 12_000, n).round(2),
        "city": rng.choice(["Oslo", "Lima", "Pune"], n),
        "member": rng.random(n) > 0.5,
        "churn": pd.Categorical(rng.choice(["no", "yes"], n)),
    })  # fmt: skip


def rows(store: Store) -> dict[str, int]:
    counts = store.counts()
    return {"datasets": counts["datasets"], "events": counts["events"]}


def test_registering_the_same_data_again_is_a_no_op(store: Store, datasets: Datasets) -> None:
    """The second register() returns the stored version and writes no row or event."""
    first = datasets.register("churn", frame(), target="churn")
    again = datasets.register("churn", frame().set_axis(range(100, 150)), target="churn")
    assert again == first
    assert rows(store) == {"datasets": 1, "events": 1}


def test_a_known_version_is_found_by_reading_and_not_written_again(store: Store) -> None:
    """Over any StoreClient: one write holding the row and its event, none the second time."""
    client = RecordingClient(store)
    datasets = Datasets(client)
    datasets.register("churn", frame(), target="churn")
    datasets.register("churn", frame(), target="churn")
    assert client.writes == [["datasets", "events"]]


def test_changed_data_is_a_new_version_and_the_latest(store: Store, datasets: Datasets) -> None:
    """Other values give another version; 'name' then means the newest one."""
    first = datasets.register("churn", frame(seed=0), target="churn")
    second = datasets.register("churn", frame(seed=1), target="churn")
    assert second.version != first.version
    assert datasets.get("churn") == second
    assert datasets.get(f"churn@{first.version}") == first
    assert datasets.list()["version"].tolist() == [second.version, first.version]
    assert rows(store) == {"datasets": 2, "events": 2}


def test_a_version_records_schema_profile_and_description(datasets: Datasets) -> None:
    """What a version holds is described column by column."""
    version = datasets.register("churn", frame(), target="churn", description="CRM export")
    assert version.n_rows == 50 and version.target == "churn"
    assert version.columns == ["age", "income", "city", "member", "churn"]
    kinds = {c["name"]: c["kind"] for c in version.schema["columns"]}
    assert kinds == {"age": "numeric", "income": "numeric", "city": "categorical",
                     "member": "boolean", "churn": "categorical"}  # fmt: skip
    assert version.profile["age"]["mean"] == pytest.approx(frame()["age"].mean())
    assert version.profile["city"]["distinct"] == 3
    assert version.description == "CRM export"
    assert version.content_hash.startswith(version.version) and len(version.content_hash) == 64


def test_load_round_trips_the_data_exactly(datasets: Datasets) -> None:
    """Values and dtypes come back as registered: ints, floats, text, bools, categories,
    nullable ints and datetimes; registering the loaded frame again is a no-op."""
    original = frame().assign(
        seen=pd.date_range("2026-01-01", periods=50, freq="h"),
        visits=pd.array([None, *range(49)], dtype="Int64"),
        tier=pd.Categorical([1, 2] * 25, categories=[2, 1, 3], ordered=True),
    )
    version = datasets.register("churn", original, target="churn")
    loaded = datasets.load("churn")
    pd.testing.assert_frame_equal(loaded, original)
    assert datasets.register("churn", loaded, target="churn") == version


def test_the_reference_sample_is_a_seeded_subset(datasets: Datasets) -> None:
    """At most 1,000 rows of the data, the same rows on every registration."""
    big = frame(3000)
    datasets.register("big", big)
    sample = datasets.reference("big")
    assert len(sample) == 1000
    assert sample.columns.tolist() == big.columns.tolist()
    merged = sample.merge(big.drop_duplicates(), how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert datasets.reference("big").equals(sample)


def test_arrays_and_pairs_register_with_generated_names(datasets: Datasets) -> None:
    """An array gets x0..xN and a target column; (X, y) keeps y's name."""
    X = np.arange(12.0).reshape(4, 3)
    from_array = datasets.register("arr", X, target=np.array([0, 1, 0, 1]))
    assert from_array.columns == ["x0", "x1", "x2", "target"]
    from_pair = datasets.register("pair", (X, pd.Series([0, 1, 0, 1], name="label")))
    assert (from_pair.columns[-1], from_pair.target) == ("label", "label")
    assert datasets.load("pair")["label"].tolist() == [0, 1, 0, 1]


def test_derive_records_its_parent_and_prep(datasets: Datasets) -> None:
    """A derived version names the exact parent version and describes the prep."""
    raw = datasets.register("churn", frame(), target="churn")
    numeric = datasets.derive("churn-num", "churn", _numeric_only)
    assert numeric.parents == (raw.ref,)
    assert numeric.target == "churn"
    assert numeric.prep is not None and numeric.prep["qualname"] == "_numeric_only"
    assert datasets.load(numeric)["churn"].equals(datasets.load(raw)["churn"])


def test_derive_fits_a_transformer_on_the_features_only(datasets: Datasets) -> None:
    """The target passes through untouched; feature columns keep sklearn's names."""
    datasets.register("num", frame()[["age", "income", "churn"]], target="churn")
    scaler = make_pipeline(StandardScaler())
    scaled = datasets.derive("num-scaled", "num", scaler)
    loaded = datasets.load(scaled)
    assert loaded.columns.tolist() == ["age", "income", "churn"]
    assert loaded["income"].mean() == pytest.approx(0.0, abs=1e-9)
    assert loaded["churn"].equals(frame()["churn"])
    assert scaled.prep is not None
    assert [step["class"] for step in scaled.prep["steps"]] == [
        "sklearn.preprocessing._data.StandardScaler"
    ]


def test_lineage_of_a_two_level_chain(datasets: Datasets) -> None:
    """raw -> numeric (callable) -> scaled (sklearn): each level names its prep and parent."""
    raw = datasets.register("churn", frame(), target="churn")
    numeric = datasets.derive("churn-num", raw, _numeric_only)
    scaled = datasets.derive("churn-scaled", numeric, StandardScaler())
    tree = datasets.lineage("churn-scaled")
    assert tree["dataset"] == scaled.ref
    assert tree["prep"]["class"] == "sklearn.preprocessing._data.StandardScaler"
    middle = tree["parents"][0]
    assert (middle["dataset"], middle["prep"]["type"]) == (numeric.ref, "callable")
    assert middle["parents"] == [
        {"dataset": raw.ref, "name": "churn", "version": raw.version, "prep": None, "parents": []}
    ]


def test_parents_may_be_named_in_any_reference_form(datasets: Datasets) -> None:
    """'name', 'name@version' and a DatasetVersion all resolve to the exact version, once."""
    a = datasets.register("a", frame(seed=1))
    b = datasets.register("b", frame(seed=2))
    child = datasets.register(
        "child", frame(seed=3), prep=_numeric_only, parents=["a", f"b@{b.version}", a]
    )
    assert child.parents == (a.ref, b.ref)
    assert datasets.lineage(child)["prep"]["qualname"] == "_numeric_only"


def test_the_event_is_written_with_the_dataset(store: Store, datasets: Datasets) -> None:
    """A 'dataset.registered' event names the version, in the same transaction as its row."""
    version = datasets.register("churn", frame(), target="churn")
    events = store.sql("SELECT kind, subject, details FROM events")
    assert events[["kind", "subject"]].to_dict("records") == [
        {"kind": "dataset.registered", "subject": version.ref}
    ]
    assert json.loads(events["details"][0])["n_rows"] == 50


BAD_CALLS: dict[str, Callable[[Datasets], object]] = {
    "target column missing": lambda d: d.register("x", frame(), target="label"),
    "no rows": lambda d: d.register("x", frame().head(0)),
    "no columns": lambda d: d.register("x", pd.DataFrame(index=range(3))),
    "unsupported type": lambda d: d.register("x", {"a": [1, 2]}),
    "duplicate columns": lambda d: d.register("x", pd.DataFrame([[1, 2]], columns=["a", "a"])),
    "unknown parent": lambda d: d.register("x", frame(), parents=["nope"]),
    "unknown parent version": lambda d: d.register("x", frame(), parents=["churn@000000000000"]),
    "empty name": lambda d: d.register("", frame()),
    "name with @": lambda d: d.register("x@1", frame()),
    "name with whitespace": lambda d: d.register("my data", frame()),
    "prep not callable": lambda d: d.register("x", frame(), prep=42),
    "derive without prep": lambda d: d.derive("x", "churn", None),
    "derive from unknown": lambda d: d.derive("x", "nope", _numeric_only),
    "derive prep returning array": lambda d: d.derive("x", "churn", lambda f: f.to_numpy()),
    "derive dropping the target": lambda d: d.derive("x", "churn", lambda f: f[["age"]]),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_is_refused_and_nothing_is_written(
    store: Store, datasets: Datasets, case: str
) -> None:
    """Every bad call raises a DatasetError (a ValueError) and leaves the store as it was."""
    datasets.register("churn", frame(), target="churn")
    before = rows(store)
    with pytest.raises(DatasetError) as raised:
        BAD_CALLS[case](datasets)
    assert isinstance(raised.value, ValueError)
    assert str(raised.value).startswith("The '")
    assert rows(store) == before


def test_unknown_references_list_what_exists(datasets: Datasets) -> None:
    """An unknown name lists the datasets; an unknown version lists that name's versions."""
    version = datasets.register("churn", frame(), target="churn")
    with pytest.raises(DatasetError, match="known datasets are: churn. Register it first"):
        datasets.get("chrun")
    with pytest.raises(DatasetError, match=f"versions, newest first, are: {version.version}"):
        datasets.load("churn@abc")
    with pytest.raises(DatasetError, match="must be 'name', 'name@version' or a DatasetVersion"):
        datasets.get("churn@")
    with pytest.raises(DatasetError, match="'ref' parameter of lineage"):
        datasets.lineage(f"churn@{version.version[:6]}")


def test_an_empty_registry_says_so(datasets: Datasets) -> None:
    """With nothing registered, the error says there is nothing yet and how to add it."""
    with pytest.raises(DatasetError, match="known datasets are: none. Register it first"):
        datasets.reference("churn")
    assert datasets.list().empty


def test_a_store_of_schema_one_gains_the_data_columns(tmp_path: Path) -> None:
    """Migration 2 adds data and description, keeping rows written before it."""
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(MIGRATIONS[0].sql)
        con.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        con.execute(
            "INSERT INTO schema_migrations VALUES (1, 'lifecycle tables', now()::TIMESTAMP)"
        )
        con.execute("INSERT INTO datasets (name, version, created_at, content_hash, n_rows, "
                    "parents) VALUES ('old', 'aaaaaaaaaaaa', ?, 'aaaa', 3, '[]')",
                    [datetime(2026, 1, 1)])  # fmt: skip
    with Store(path) as store:
        assert store.schema_version == MIGRATIONS[-1].version
        assert {"data", "description"} <= set(store.specs["datasets"].schema.names)
        datasets = Datasets(store)
        assert datasets.get("old").n_rows == 3
        with pytest.raises(DatasetError, match="holds no data"):
            datasets.load("old")


def _numeric_only(df: pd.DataFrame) -> pd.DataFrame:
    return df[["age", "income", "churn"]]
