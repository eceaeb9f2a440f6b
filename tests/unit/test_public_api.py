"""The public namespace is exactly what __all__ says, sorted, and every name resolves."""

from __future__ import annotations

import subprocess
import sys

import mlops_lab


def test_all_is_sorted_and_every_name_resolves() -> None:
    """__all__ is sorted; each name in it is importable from the package."""
    assert mlops_lab.__all__ == sorted(mlops_lab.__all__)
    for name in mlops_lab.__all__:
        assert getattr(mlops_lab, name) is not None


def test_dir_is_the_public_surface() -> None:
    """dir(mlops_lab) lists the public names only."""
    assert set(dir(mlops_lab)) >= {"connect", "Lab", "LabError", "Store", "StoreClient", "TuneRun"}
    assert "annotations" not in dir(mlops_lab)


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
