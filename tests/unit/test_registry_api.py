"""The registry's public namespace is exactly what its __all__ says, sorted."""

from __future__ import annotations

import mlops_lab.registry as registry


def test_all_is_sorted_and_is_the_public_surface() -> None:
    """__all__ is sorted and names every public attribute that is not a module."""
    public = {
        name
        for name, value in vars(registry).items()
        if not name.startswith("_") and type(value).__name__ not in ("module", "_Feature")
    }
    assert registry.__all__ == sorted(registry.__all__)
    assert set(registry.__all__) == public
    assert set(registry.__all__) == {
        "ModelVersion", "Registry", "RegistryError", "UntrustedArtifactError",
    }  # fmt: skip


def test_untrusted_artifacts_are_registry_errors_and_value_errors() -> None:
    """Callers can catch every refusal as RegistryError, or as ValueError."""
    assert issubclass(registry.UntrustedArtifactError, registry.RegistryError)
    assert issubclass(registry.RegistryError, ValueError)
