"""Settings of the lab: where the store lives, which Ray to use, which ports to bind.

Every setting is declared once, with its default and its help text, in ``SETTINGS``.
Values come from, in order of precedence: arguments to :func:`load_settings` (and so to
``mlops_lab.connect``), environment variables ``MLOPS_LAB_<NAME>``, the
``[tool.mlops_lab]`` table of the nearest ``pyproject.toml``, and the defaults.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_lab.errors import LabError

ENV_PREFIX = "MLOPS_LAB_"


class ConfigError(LabError, ValueError):
    """A setting has a value the lab cannot use."""


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one lab.

    Example:
        >>> Settings(home=Path("/tmp/lab")).store_path
        PosixPath('/tmp/lab/lab.duckdb')
    """

    home: Path = field(
        default=Path(".mlops_lab"),
        metadata={"doc": "Folder of the lab's files: the DuckDB store and runtime state."},
    )
    store_file: str = field(
        default="lab.duckdb",
        metadata={"doc": "File name of the DuckDB store inside 'home', or an absolute path."},
    )
    ray_address: str | None = field(
        default=None,
        metadata={"doc": "Address of an existing Ray cluster to attach to ('host:port')."},
    )
    ray_port: int = field(
        default=6390,
        metadata={"doc": "GCS port of the local Ray head that the lab starts."},
    )
    ray_client_port: int | None = field(
        default=None,
        metadata={
            "doc": "Port of a Ray Client server (ray://) that the local head starts; none when "
            "unset."
        },
    )
    num_cpus: int | None = field(
        default=None,
        metadata={"doc": "CPUs that the local Ray head offers (all of them when unset)."},
    )
    serve_host: str = field(
        default="127.0.0.1",
        metadata={"doc": "Address the Ray Serve HTTP proxy binds; beyond loopback needs a token."},
    )
    serve_port: int = field(
        default=8000,
        metadata={"doc": "Port of the Ray Serve HTTP proxy."},
    )
    auth_token: str | None = field(
        default=None,
        metadata={"doc": "Token that clients must send when Serve binds beyond loopback."},
    )
    namespace: str = field(
        default="mlops_lab",
        metadata={"doc": "Ray namespace holding the lab's named actors."},
    )
    warm_workers: int = field(
        default=2,
        metadata={
            "doc": "Trial workers kept started, with the trial code imported, for the next "
            "search (0 turns this off)."
        },
    )

    @property
    def store_path(self) -> Path:
        """The DuckDB file of the store."""
        return (self.home / self.store_file).absolute()

    @property
    def runtime_file(self) -> Path:
        """Where a running local runtime records how to attach to it."""
        return (self.home / "runtime.json").absolute()

    def validate(self) -> Settings:
        """Check every value, raising :class:`ConfigError` naming the one that is wrong."""
        for name in ("ray_port", "serve_port", "ray_client_port"):
            port = getattr(self, name)
            if port is not None and not 0 < port < 65536:
                raise ConfigError(
                    f"The '{name}' setting must be a port number between 1 and 65535. "
                    f"Got {port!r} instead."
                )
        if self.ray_client_port in range(self.ray_port, self.ray_port + 3):
            raise ConfigError(
                f"The 'ray_client_port' setting {self.ray_client_port} is one of the ports "
                f"the local head's GCS and agent use ({self.ray_port}-{self.ray_port + 2}). "
                "Pick a port outside them."
            )
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError(
                f"The 'num_cpus' setting must be at least 1. Got {self.num_cpus!r} instead; "
                "leave it unset to use every CPU."
            )
        if self.warm_workers < 0:
            raise ConfigError(
                f"The 'warm_workers' setting must be 0 or more. Got {self.warm_workers!r} "
                "instead; 0 turns warm trial workers off."
            )
        if not _is_loopback(self.serve_host) and not self.auth_token:
            raise ConfigError(
                f"The 'serve_host' setting {self.serve_host!r} exposes the lab beyond this "
                "machine, which requires an 'auth_token'. Set MLOPS_LAB_AUTH_TOKEN, or bind "
                "'127.0.0.1'."
            )
        return self


def describe_settings() -> dict[str, str]:
    """Return each setting's name and help text, in declaration order."""
    return {f.name: f.metadata["doc"] for f in dataclasses.fields(Settings)}


def load_settings(start: Path | None = None, **overrides: Any) -> Settings:
    """Resolve the settings from arguments, environment and ``pyproject.toml``.

    Args:
        start: Folder from which to look upwards for ``pyproject.toml`` (the current one
            when omitted).
        **overrides: Settings given as arguments; ``None`` values are ignored.

    Returns:
        The validated settings.

    Raises:
        ConfigError: A name is not a setting, or a value has the wrong type or range.

    Example:
        >>> load_settings(serve_port=8123).serve_port
        8123
    """
    base = Path(start) if start is not None else Path.cwd()
    layers = [_from_pyproject(base), _from_environment(os.environ), overrides]
    values: dict[str, Any] = {}
    for source, layer in zip(("pyproject.toml", "environment", "arguments"), layers, strict=True):
        for name, value in layer.items():
            if value is not None:
                values[name] = _coerce(name, value, source)
    return Settings(**values).validate()


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_INTEGERS = ("ray_port", "ray_client_port", "serve_port", "num_cpus", "warm_workers")


def _coerce(name: str, value: Any, source: str) -> Any:
    if name not in _FIELDS:
        raise ConfigError(
            f"'{name}' from {source} is not a setting of mlops-lab. "
            f"Known settings: {', '.join(sorted(_FIELDS))}."
        )
    if name == "home":
        return Path(value)
    if name not in _INTEGERS:
        return str(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"The '{name}' setting from {source} must be an integer. Got {value!r} instead."
        ) from None


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name: environ[ENV_PREFIX + name.upper()]
        for name in _FIELDS
        if environ.get(ENV_PREFIX + name.upper())
    }


def _from_pyproject(start: Path) -> dict[str, Any]:
    for folder in (start.absolute(), *start.absolute().parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{candidate} is not valid TOML: {exc}") from None
            table = data.get("tool", {}).get("mlops_lab", {})
            if "home" in table and not Path(table["home"]).is_absolute():
                table["home"] = folder / table["home"]
            return table
    return {}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
