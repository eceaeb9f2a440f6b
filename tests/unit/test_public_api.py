"""The public namespace is exactly what __all__ says, sorted."""

from __future__ import annotations
import __future__

import mlops_lab


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and names every public attribute that is not a module."""
    public = {
        name
        for name, value in vars(mlops_lab).items()
        if not name.startswith("_")
        and type(value).__name__ != "module"
        and not isinstance(value, __future__._Feature)
    }
    assert mlops_lab.__all__ == sorted(mlops_lab.__all__)
    assert set(mlops_lab.__all__) == public


def test_public_surface() -> None:
    """The entry points users rely on are exported."""
    expected = {"connect", "Lab", "Store", "StoreClient", "load_ipython_extension"}
    assert expected <= set(mlops_lab.__all__)
