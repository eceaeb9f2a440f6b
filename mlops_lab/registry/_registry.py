"""The model registry: versioned artifacts, aliases and lineage, kept in the lab's store."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import skops

from mlops_lab.errors import parameter_error
from mlops_lab.registry._artifacts import deserialise, serialise
from mlops_lab.registry._catalog import REMOVED_ALIAS, Catalog
from mlops_lab.registry._errors import RegistryError
from mlops_lab.registry._metadata import check_metrics, model_params
from mlops_lab.registry._names import as_names, check_alias, check_name, parse_dataset
from mlops_lab.registry._signature import (
    check_fitted,
    from_parquet,
    infer_signature,
    parse_samples,
    to_parquet,
)
from mlops_lab.registry._version import ModelVersion
from mlops_lab.registry._views import comparison_frame, versions_frame
from mlops_lab.store import Batch, StoreClient

# Concurrent registrations of one name each take "latest + 1"; the loser of a race
# retries with the next number. More losses than this in a row means something is wrong.
_ATTEMPTS = 10
# Namespace of the registration events' ids, which are derived from "name@version".
_EVENT_IDS = uuid.UUID("6f1c2a52-5d8e-4c1e-9d6b-3f0a7f2b9e10")


@runtime_checkable
class Registrable(Protocol):
    """Something that can produce a fitted model and its lineage, such as a tuning trial.

    ``registration()`` returns a dict with ``model`` and, optionally, ``reference``,
    ``dataset``, ``trial_id``, ``metrics`` and ``params``.
    """

    def registration(self) -> dict[str, Any]: ...


class Registry:
    """Versioned models with their signature, samples, metrics, lineage and aliases.

    Args:
        store: Where the registry keeps everything (``lab.store``, or a :class:`Store`).

    Example:
        >>> registry = Registry(lab.store)
        >>> registry.register("iris", model, reference=X_test, aliases=["champion"])
        >>> registry.load("iris@champion").predict(X_test)
    """

    def __init__(self, store: StoreClient) -> None:
        self.store = store
        self._catalog = Catalog(store)

    def register(
        self,
        name: str,
        model: Any,
        *,
        reference: Any = None,
        background: Any = None,
        dataset: str | None = None,
        trial_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        description: str | None = None,
        aliases: Iterable[str] = (),
        trusted: Iterable[str] = (),
        allow_pickle: bool = False,
    ) -> ModelVersion:
        """Store a fitted model as the next version of ``name``.

        Everything is checked before anything is written; the model row, its aliases
        and a ``model.registered`` event are written in one transaction.

        Args:
            name: The model's name (no '@' or whitespace).
            model: A fitted scikit-learn estimator or Pipeline, or a tuning trial
                (``run.best()``): it is refitted on its dataset, and its trial, dataset,
                score, parameters and a reference sample are recorded with it.
            reference: A sample of inputs (DataFrame or 2-D array) for drift detection;
                only the model's features are kept, in the order of fit.
            background: A sample for explainers; default up to 100 reference rows.
            dataset: The training data's reference, "name@version".
            trial_id: The tuning trial the model came from.
            metrics: Metric name to number.
            params: Parameters to record; default the model's ``get_params(deep=False)``.
            description: Free text.
            aliases: Aliases to point at the new version, such as ["challenger"].
            trusted: Types skops does not trust by default that the artifact may hold,
                such as ["sklearn.tree._tree.Tree"]; an error lists any that are needed.
            allow_pickle: Store with pickle when skops cannot serialise the model.
                Loading it will then need ``allow_pickle=True`` too.

        Returns:
            The registered version.

        Example:
            >>> registry.register("iris", LogisticRegression().fit(X, y), reference=X,
            ...                   metrics={"accuracy": 0.97}, dataset="iris@abc123def456")
        """
        if isinstance(model, Registrable):
            details = model.registration()
            model = details["model"]
            reference = details.get("reference") if reference is None else reference
            dataset = dataset or details.get("dataset")
            trial_id = trial_id or details.get("trial_id")
            metrics = metrics if metrics is not None else details.get("metrics")
            params = params if params is not None else details.get("params")
        name = check_name(name, "name", "register")
        check_fitted(model)
        alias_names = [
            check_alias(alias, "register") for alias in as_names(aliases, "aliases", "register")
        ]
        dataset_name, dataset_version = parse_dataset(dataset)
        reference_frame, background_frame = parse_samples(model, reference, background)
        row = {
            "metrics": check_metrics(metrics),
            "params": model_params(model, params),
            "trial_id": _optional_text(trial_id, "trial_id"),
            "description": _optional_text(description, "description"),
            "dataset_name": dataset_name,
            "dataset_version": dataset_version,
            "reference": to_parquet(reference_frame, "reference"),
            "background": to_parquet(background_frame, "background"),
        }
        signature = infer_signature(model, reference_frame)
        artifact = serialise(
            model,
            trusted=as_names(trusted, "trusted", "register"),
            allow_pickle=bool(allow_pickle),
            suggest=lambda arg: f"registry.register({name!r}, model, ..., {arg})",
        )
        recorded = {"untrusted_types": list(artifact.untrusted_types), **_library_versions()}
        row |= {
            "flavor": artifact.flavor,
            "artifact": artifact.data,
            "signature": {**signature, "artifact": recorded},
        }
        version = self._insert(name, row, alias_names)
        return self._catalog.describe(name, version)[0]

    def load(self, ref: str, *, trusted: Iterable[str] = (), allow_pickle: bool = False) -> Any:
        """Load a model version's estimator.

        A skops artifact loads only when every type skops does not trust by default is
        named in ``trusted``; a pickle artifact only with ``allow_pickle=True``.

        Args:
            ref: "name" (latest version), "name@3" (a version) or "name@champion" (an alias).
            trusted: Type names to trust, as listed by the error or ``get(ref)``.
            allow_pickle: Load a pickle artifact (unpickling can run arbitrary code).

        Raises:
            UntrustedArtifactError: The artifact needs trust the caller did not give.

        Example:
            >>> registry.load("iris@champion").predict(X)
            >>> registry.load("forest@2", trusted=["sklearn.tree._tree.Tree"])
        """
        trusted_names = as_names(trusted, "trusted", "load")
        name, version = self._catalog.resolve(ref, "load")
        return deserialise(
            self._catalog.artifact(name, version),
            trusted=trusted_names,
            allow_pickle=bool(allow_pickle),
            suggest=lambda arg: f"registry.load({ref!r}, {arg})",
        )

    def get(self, ref: str) -> ModelVersion:
        """Describe a model version: signature, metrics, params, lineage, aliases.

        Example:
            >>> registry.get("iris@champion").metrics
            {'accuracy': 0.97}
        """
        return self._catalog.describe(*self._catalog.resolve(ref, "get"))[0]

    def reference(self, ref: str) -> pd.DataFrame:
        """The reference sample stored with a model version (for drift detection).

        Example:
            >>> registry.reference("iris@champion").shape
            (30, 4)
        """
        return self._sample(ref, "reference")

    def background(self, ref: str) -> pd.DataFrame:
        """The background sample stored with a model version (for explainers).

        Example:
            >>> registry.background("iris@champion").shape
            (30, 4)
        """
        return self._sample(ref, "background")

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` of model ``name`` at ``version``, moving it if it exists.

        Example:
            >>> registry.set_alias("iris", "champion", 3)
            >>> registry.load("iris@champion")
        """
        name = check_name(name, "name", "set_alias")
        alias = check_alias(alias, "set_alias")
        versions = self._catalog.check_known(name)
        if not _is_integer(version) or int(version) not in versions:
            must = f"be a version of {name!r}: one of {versions}"
            raise RegistryError(parameter_error("version", "set_alias()", must, repr(version)))
        previous = self._catalog.aliases(name).get(alias)
        details = {"alias": alias, "version": int(version), "previous": previous}
        self._write_alias(name, alias, int(version), "model.alias_set", details)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` from model ``name``; its version stays registered.

        The store has no DELETE, so the alias row is replaced by one with version -1,
        which every read of the registry ignores; the removal is also an event.

        Example:
            >>> registry.delete_alias("iris", "challenger")
        """
        name = check_name(name, "name", "delete_alias")
        alias = check_alias(alias, "delete_alias")
        current = self.aliases(name)
        if alias not in current:
            known = ", ".join(repr(known) for known in current) or "none"
            raise RegistryError(f"Model {name!r} has no alias {alias!r}. Its aliases: {known}.")
        details = {"alias": alias, "version": None, "previous": current[alias]}
        self._write_alias(name, alias, REMOVED_ALIAS, "model.alias_deleted", details)

    def aliases(self, name: str) -> dict[str, int]:
        """The aliases of model ``name`` and the versions they point at.

        Example:
            >>> registry.aliases("iris")
            {'challenger': 4, 'champion': 3}
        """
        name = check_name(name, "name", "aliases")
        self._catalog.check_known(name)
        return self._catalog.aliases(name)

    def lineage(self, ref: str) -> dict[str, Any]:
        """Where a model version came from: its tuning trial and dataset.

        Example:
            >>> registry.lineage("iris@champion")
            {'model': 'iris@3', 'trial_id': 't-17', 'dataset': 'iris@abc123def456'}
        """
        described = self.get(ref)
        return {
            "model": described.ref,
            "trial_id": described.trial_id,
            "dataset": described.dataset,
        }

    def compare(self, *refs: str) -> pd.DataFrame:
        """Metrics and parameters of model versions side by side, one column per ref.

        Example:
            >>> registry.compare("iris@champion", "iris@challenger")
        """
        resolved = [self._catalog.resolve(ref, "compare") for ref in refs]
        if not refs or len(set(refs)) != len(refs):
            raise RegistryError(
                "compare() takes one or more distinct model references, such as "
                f"compare('iris@champion', 'iris@challenger'). Got {refs!r} instead."
            )
        described = [self._catalog.describe(name, version)[0] for name, version in resolved]
        return comparison_frame(refs, described)

    def list(self, name: str | None = None) -> pd.DataFrame:
        """Registered versions, newest first, with aliases, metrics and lineage.

        Example:
            >>> registry.list("iris")[["version", "aliases", "metrics.accuracy"]]
        """
        if name is not None:
            self._catalog.check_known(check_name(name, "name", "list"))
        return versions_frame(self._catalog.describe(name))

    def _sample(self, ref: str, which: str) -> pd.DataFrame:
        name, version = self._catalog.resolve(ref, which)
        data = self._catalog.sample(name, version, which)
        if data is None:
            raise RegistryError(
                f"Model {name}@{version} has no {which} sample. Register a version "
                f"with register(..., {which}=X) to keep one."
            )
        return from_parquet(data)

    def _insert(self, name: str, row: dict[str, Any], aliases: builtins.list[str]) -> int:
        """Write the version row, its aliases and an event; return the version taken."""
        before = self._catalog.aliases(name)
        version = (self._catalog.versions(name) or [0])[-1] + 1
        for _ in range(_ATTEMPTS):
            now = _now()
            batches: dict[str, Batch] = {
                "models": [{"name": name, "version": version, "created_at": now, **row}],
                "events": [_registered_event(name, version, row, aliases, now)],
            }
            if aliases:
                batches["model_aliases"] = _alias_rows(name, dict.fromkeys(aliases, version), now)
            if self.store.write(batches)["models"]:
                return version
            # Another registration took this number first; its aliases were just
            # overwritten with ours, which the next attempt corrects.
            version = max(version, *self._catalog.versions(name)) + 1
        if aliases:
            restored = {alias: before.get(alias, REMOVED_ALIAS) for alias in aliases}
            self.store.write({"model_aliases": _alias_rows(name, restored, _now())})
        raise RegistryError(
            f"Registering {name!r} lost the race for a version number {_ATTEMPTS} times "
            "to concurrent registrations; nothing was registered. Try again."
        )

    def _write_alias(
        self, name: str, alias: str, version: int, kind: str, details: dict[str, Any]
    ) -> None:
        now = _now()
        event = {
            "event_id": str(uuid.uuid4()),
            "time": now,
            "kind": kind,
            "subject": f"{name}@{alias}",
            "details": details,
        }
        self.store.write(
            {"model_aliases": _alias_rows(name, {alias: version}, now), "events": [event]}
        )


def _alias_rows(name: str, targets: Mapping[str, int], now: datetime) -> list[dict[str, Any]]:
    return [
        {"name": name, "alias": alias, "version": version, "updated_at": now}
        for alias, version in targets.items()
    ]


def _registered_event(
    name: str, version: int, row: Mapping[str, Any], aliases: list[str], now: datetime
) -> dict[str, Any]:
    subject = f"{name}@{version}"
    return {
        # Named after the version, so the event of a registration that lost its number
        # to a concurrent one is ignored rather than recorded.
        "event_id": str(uuid.uuid5(_EVENT_IDS, f"model.registered/{subject}")),
        "time": now,
        "kind": "model.registered",
        "subject": subject,
        "details": {
            "flavor": row["flavor"],
            "aliases": aliases,
            "trial_id": row["trial_id"],
            "dataset_name": row["dataset_name"],
            "dataset_version": row["dataset_version"],
        },
    }


def _is_integer(value: object) -> bool:
    # bool is an int to Python, but True is no version number.
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _optional_text(value: object, parameter: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise RegistryError(
        parameter_error(parameter, "register()", "be a string or None", type(value).__name__)
    )


def _library_versions() -> dict[str, str]:
    # Kept with the artifact: a model that loads wrongly elsewhere is then diagnosable.
    # Imported here: importing scikit-learn takes most of a second, which each process that
    # only reads the registry (a router replica starting, a lab connecting) would pay.
    import sklearn

    return {"sklearn_version": sklearn.__version__, "skops_version": skops.__version__}


def _now() -> datetime:
    # The store keeps naive UTC timestamps.
    return datetime.now(UTC).replace(tzinfo=None)
