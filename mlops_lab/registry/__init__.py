"""The model registry: versioned models with signatures, samples, metrics and aliases.

Example:
    >>> from mlops_lab.registry import Registry
    >>> registry = Registry(lab.store)
    >>> registry.register("iris", model, reference=X_test, aliases=["champion"])
    >>> registry.load("iris@champion").predict(X_test)
"""

from __future__ import annotations

from mlops_lab.registry._errors import RegistryError, UntrustedArtifactError
from mlops_lab.registry._registry import Registry
from mlops_lab.registry._version import ModelVersion

__all__ = ["ModelVersion", "Registry", "RegistryError", "UntrustedArtifactError"]
