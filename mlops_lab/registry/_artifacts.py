"""Model artifacts: skops by default, pickle only when the caller opts in.

skops rebuilds a model from a description of its parts and refuses any type it does
not trust by default unless the caller names it, so loading cannot run unexpected code.
Unpickling runs whatever code the artifact names; it is never done silently.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_lab.registry._errors import RegistryError, UntrustedArtifactError

Suggest = Callable[[str], str]
"""Given a keyword argument such as "allow_pickle=True", the call a user should make."""

SKOPS = "skops"
PICKLE = "pickle"


@dataclass(frozen=True)
class Artifact:
    """A serialised model: its bytes, how they were written, what loading must trust."""

    flavor: str
    data: bytes
    untrusted_types: tuple[str, ...]


def serialise(
    model: Any, *, trusted: Sequence[str], allow_pickle: bool, suggest: Suggest
) -> Artifact:
    """Serialise ``model`` with skops, checking that the bytes load back.

    The artifact may hold types skops does not trust by default only if ``trusted``
    names them, so nothing enters the registry that its registrant has not vouched for.
    When skops cannot write or read the model back, pickle is used if ``allow_pickle``.

    Args:
        model: The fitted estimator.
        trusted: Type names the registrant trusts.
        allow_pickle: Fall back to pickle when skops cannot serialise the model.
        suggest: Writes the caller's call with one more keyword argument, for errors.

    Raises:
        UntrustedArtifactError: The artifact holds types not in ``trusted``.
        RegistryError: Neither skops nor (if allowed) pickle can serialise the model.
    """
    sio = _skops()
    try:
        data = sio.dumps(model)
        untrusted = tuple(sio.get_untrusted_types(data=data))
        # The bytes were made from this very object, so trusting their types here runs
        # no code that is not already loaded; it proves the artifact can be read back.
        sio.loads(data, trusted=list(untrusted))
    except Exception as exc:
        return _pickle_instead(model, exc, allow_pickle, suggest)
    check_trusted(untrusted, trusted, "The model", suggest)
    return Artifact(SKOPS, data, untrusted)


def deserialise(
    artifact: Artifact, *, trusted: Sequence[str], allow_pickle: bool, suggest: Suggest
) -> Any:
    """Rebuild a model, trusting only the types the caller named.

    Raises:
        UntrustedArtifactError: A skops artifact holds types not in ``trusted``, or the
            artifact is a pickle and ``allow_pickle`` is false.
        RegistryError: The artifact cannot be read.
    """
    if artifact.flavor == PICKLE:
        if not allow_pickle:
            raise UntrustedArtifactError(
                "This model was stored with pickle. Unpickling runs arbitrary code named "
                "by the artifact, so it is refused by default. If you trust whoever "
                f"registered it, opt in: {suggest('allow_pickle=True')}"
            )
        # The caller opted in above, having been told what unpickling can do.
        return pickle.loads(artifact.data)
    if artifact.flavor != SKOPS:
        raise RegistryError(
            f"The artifact's flavor {artifact.flavor!r} is unknown; this mlops-lab reads "
            f"{SKOPS!r} and {PICKLE!r}. Upgrade mlops-lab to read it."
        )
    sio = _skops()
    try:
        untrusted = tuple(sio.get_untrusted_types(data=artifact.data))
    except Exception as exc:
        raise _unreadable(exc) from exc
    needed = check_trusted(untrusted, trusted, "The artifact", suggest)
    try:
        return sio.loads(artifact.data, trusted=needed)
    except Exception as exc:
        raise _unreadable(exc) from exc


def check_trusted(
    untrusted: Sequence[str], trusted: Sequence[str], subject: str, suggest: Suggest
) -> list[str]:
    """The untrusted types to pass on to skops; refuse when one is not in ``trusted``.

    Only types skops reports as untrusted are passed on: trusting anything more
    would widen what a tampered artifact could name.
    """
    missing = sorted(set(untrusted) - set(trusted))
    if missing:
        from skops.io import exceptions

        reasons = getattr(exceptions, "UNTRUSTED_TYPE_REASONS", {})
        notes = "".join(f"\n- {reasons[name]}" for name in missing if name in reasons)
        raise UntrustedArtifactError(
            f"{subject} holds types that skops does not trust by default: {missing}. "
            "Loading it would import and run their code. Review them and, if you trust "
            f"their source, name them explicitly: "
            f"{suggest(f'trusted={sorted(untrusted)!r}')}{notes}"
        )
    return [name for name in untrusted if name in trusted]


def import_ahead() -> None:
    """Import what loading an artifact needs: skops, and with it scikit-learn.

    That takes most of a second; a process started ahead of its first model (the shared
    router's replica) does it while it waits, so that its first load does not.
    """
    _skops()


def _skops() -> Any:
    """skops.io, imported on first use.

    Its import takes seconds (its type checks load jsonschema), and a lab that only
    connects needs none of it.
    """
    import skops.io

    return skops.io


def _pickle_instead(
    model: Any, problem: Exception, allow_pickle: bool, suggest: Suggest
) -> Artifact:
    why = (
        f"skops cannot serialise this {type(model).__name__} ({type(problem).__name__}: {problem})"
    )
    if not allow_pickle:
        raise RegistryError(
            f"{why}. Make it serialisable by skops (for instance, replace lambdas with "
            "module-level functions), or opt in to pickle, whose artifacts load only with "
            f"allow_pickle=True because unpickling runs arbitrary code: "
            f"{suggest('allow_pickle=True')}"
        ) from problem
    try:
        data = pickle.dumps(model)
    except Exception as exc:
        raise RegistryError(f"{why}, and pickle cannot either ({exc}).") from exc
    return Artifact(PICKLE, data, ())


def _unreadable(problem: Exception) -> RegistryError:
    return RegistryError(
        f"The skops artifact could not be loaded ({type(problem).__name__}: {problem}). "
        "The modules it names must be importable here, in compatible versions."
    )
