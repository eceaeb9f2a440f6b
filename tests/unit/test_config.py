"""Settings resolve from arguments, environment and pyproject.toml, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_lab.config import ConfigError, Settings, describe_settings, load_settings


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("HOME", "SERVE_PORT", "RAY_PORT", "NUM_CPUS", "RAY_ADDRESS", "AUTH_TOKEN"):
        monkeypatch.delenv(f"MLOPS_LAB_{name}", raising=False)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlops_lab]\nserve_port = 8100\nray_port = 6500\nhome = "labdata"\n'
    )
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_defaults_without_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no pyproject table and no variables, the documented defaults hold."""
    monkeypatch.delenv("MLOPS_LAB_SERVE_PORT", raising=False)
    monkeypatch.delenv("MLOPS_LAB_HOME", raising=False)
    settings = load_settings(start=tmp_path)
    assert (settings.serve_host, settings.serve_port) == ("127.0.0.1", 8000)
    assert settings.store_path == (Path(".mlops_lab") / "lab.duckdb").absolute()


def test_pyproject_is_found_from_a_subfolder(project: Path) -> None:
    """The nearest pyproject.toml upwards is read; its relative home is taken from it."""
    settings = load_settings(start=project / "sub")
    assert settings.serve_port == 8100
    assert settings.home == project / "labdata"


def test_environment_beats_pyproject(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A MLOPS_LAB_* variable overrides the pyproject table."""
    monkeypatch.setenv("MLOPS_LAB_SERVE_PORT", "8200")
    assert load_settings(start=project).serve_port == 8200
    assert load_settings(start=project).ray_port == 6500


def test_arguments_beat_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An argument overrides the environment; a None argument is ignored."""
    monkeypatch.setenv("MLOPS_LAB_SERVE_PORT", "8200")
    assert load_settings(start=project, serve_port=8300).serve_port == 8300
    assert load_settings(start=project, serve_port=None).serve_port == 8200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"serve_port": 70000}, "'serve_port' setting must be a port number"),
        ({"num_cpus": 0}, "'num_cpus' setting must be at least 1"),
        ({"warm_workers": -1}, "'warm_workers' setting must be 0 or more"),
        ({"serve_port": "eighty"}, "'serve_port' setting from arguments must be an integer"),
        ({"servе_port": 1}, "is not a setting of mlops-lab"),
        ({"serve_host": "0.0.0.0"}, "requires an 'auth_token'"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(
    project: Path, overrides: dict[str, object], message: str
) -> None:
    """Every refused value names its setting and what was expected."""
    with pytest.raises(ConfigError, match=message):
        load_settings(start=project, **overrides)


def test_beyond_loopback_is_allowed_with_a_token(project: Path) -> None:
    """Binding beyond loopback is accepted once a token is set."""
    settings = load_settings(start=project, serve_host="0.0.0.0", auth_token="s3cret")
    assert settings.serve_host == "0.0.0.0"


def test_every_setting_has_help_text() -> None:
    """Each setting is declared with its help, which the docs and CLI show."""
    docs = describe_settings()
    assert set(docs) == {f for f in Settings.__dataclass_fields__}
    assert all(len(text) > 10 for text in docs.values())


def test_cluster_address_comes_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLOPS_LAB_RAY_ADDRESS names the cluster to attach to; an argument still wins."""
    monkeypatch.setenv("MLOPS_LAB_RAY_ADDRESS", "head.cluster:6379")
    assert load_settings(start=project).ray_address == "head.cluster:6379"
    assert load_settings(start=project, ray_address="other:6379").ray_address == "other:6379"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ray_client_port": 0}, "'ray_client_port' setting must be a port number"),
        ({"ray_client_port": "ten"}, "'ray_client_port' setting from arguments must be an int"),
        ({"ray_port": 6500, "ray_client_port": 6502}, r"one of the ports .* \(6500-6502\)"),
    ],
)
def test_a_ray_client_port_is_a_free_port_of_its_own(
    project: Path, overrides: dict[str, object], message: str
) -> None:
    """The client server's port is a port number, and not one the head's GCS or agent use."""
    with pytest.raises(ConfigError, match=message):
        load_settings(start=project, **overrides)
    assert load_settings(start=project).ray_client_port is None
    assert load_settings(start=project, ray_client_port=10001).ray_client_port == 10001
