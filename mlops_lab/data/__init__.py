"""The dataset registry: versioned datasets with schema, profile and prep lineage.

Example:
    >>> from mlops_lab.data import Datasets
    >>> datasets = Datasets(store)
    >>> v = datasets.register("iris", frame, target="species")
    >>> datasets.derive("iris-scaled", v, StandardScaler()).parents
    ('iris@3f2a9c1b7d4e',)
"""

from __future__ import annotations

from mlops_lab.data._datasets import Datasets
from mlops_lab.data._errors import DatasetError
from mlops_lab.data._version import DatasetVersion

__all__ = ["DatasetError", "DatasetVersion", "Datasets"]
