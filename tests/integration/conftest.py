"""Fixtures of the integration tests that need no lab: a real Store on a scratch file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_lab.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store file, closed after the test."""
    with Store(tmp_path / "lab.duckdb") as opened:
        yield opened
