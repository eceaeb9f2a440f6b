"""Errors raised by the model registry, each saying what was wrong and how to fix it."""

from __future__ import annotations

from mlops_lab.errors import LabError


class RegistryError(LabError, ValueError):
    """A registry call was refused: bad input, or an unknown model, version or alias.

    A refused call writes nothing.
    """


class UntrustedArtifactError(RegistryError):
    """An artifact holds code the caller has not said it trusts.

    Either a skops artifact holds types skops does not trust by default, or the
    artifact is a pickle. The message lists what is untrusted and the exact call
    that trusts it.
    """
