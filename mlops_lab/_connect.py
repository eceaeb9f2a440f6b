"""The lab's entry point, light to import: a local head starts while the rest loads.

Importing the runtime (Ray, DuckDB, pandas, pyarrow) takes seconds, and so does starting a
Ray head; :func:`connect` begins the head's start in a thread first, then imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_lab import _ray
from mlops_lab.config import load_settings

if TYPE_CHECKING:
    from mlops_lab.runtime import Lab


def connect(*, start: bool = True, **settings: Any) -> Lab:
    """Attach to the lab runtime, starting a local one when none runs.

    The local runtime is a Ray head in its own process group, so deployments and the
    store outlive the process (or notebook kernel) that started them. When
    ``MLOPS_LAB_RAY_ADDRESS`` (or ``ray_address=``) names a cluster, the lab attaches to it.

    Args:
        start: Start a local runtime when none runs; when False, raise instead.
        **settings: Overrides of the settings in :mod:`mlops_lab.config`
            (``home``, ``serve_port``, ``num_cpus``, ...).

    Returns:
        The connected :class:`Lab`.

    Raises:
        LabNotRunningError: ``start`` is False and no runtime runs.
        ConfigError: a setting is unknown or out of range.

    Example:
        >>> lab = mlops_lab.connect()
        >>> print(lab.status())
    """
    resolved = load_settings(**settings)
    _ray.require_token_auth()  # before the head starts: it keeps the mode it is given
    if start and not resolved.ray_address:
        _ray.begin_head(resolved)
    from mlops_lab.runtime import attach

    return attach(resolved, start)
