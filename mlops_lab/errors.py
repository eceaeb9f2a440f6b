"""The error the lab raises for what a user can fix, and the one way its messages are written.

Every error the lab raises on bad input, or for a state the user can change (no lab running,
an unknown model, a store that is away), is a :class:`LabError`. Each part of the lab has its
own subclass (``DatasetError``, ``RegistryError``, ``TuneError``, ``EndpointError``,
``StoreError``, ...), which also keeps the builtin base it always had (``ValueError``,
``RuntimeError``, ...), so that ``except ValueError`` still catches what it caught. The
``%mlops`` magics show a LabError as a ``UsageError``: its message, without a traceback.

A message says what was wrong, what was expected, what was received and how to fix it. A
wrong argument is described by :func:`parameter_error`, and names in a message are joined
by :func:`listing`. This module imports the standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable


class LabError(Exception):
    """An error the user can fix; its message says what was wrong and how to fix it.

    Example:
        >>> from mlops_lab import LabError, RegistryError
        >>> try:
        ...     raise RegistryError("No model 'iris'. Register one first.")
        ... except LabError as error:
        ...     print(error)
        No model 'iris'. Register one first.
    """


def parameter_error(
    parameter: str, caller: str, must: str, got: str, fix: str = "", *, detail: str = ""
) -> str:
    """The message for a wrong argument: which parameter, of what, the rule, the value given.

    Args:
        parameter: The parameter's name, as the user wrote it.
        caller: What the parameter belongs to, as the message should name it: ``"tune()"``,
            ``"the 'ucb1' policy"``; empty when that goes without saying.
        must: The rule, to follow "must": ``"be one of ['max', 'min']"``.
        got: The value received, as the message should show it (usually its repr).
        fix: A sentence on how to fix it, if the rule alone does not say.
        detail: What to add after the value, such as the names that would do.

    Example:
        >>> parameter_error("mode", "tune()", "be one of ['max', 'min']", "'maximum'")
        "The 'mode' parameter of tune() must be one of ['max', 'min']. Got 'maximum' instead."
        >>> parameter_error("seed", "", "be an integer", "'1'", "Pass seed=1.")
        "The 'seed' parameter must be an integer. Got '1' instead. Pass seed=1."
        >>> parameter_error("target", "register()", "name a column", "'y'", detail="columns are: a")
        "The 'target' parameter of register() must name a column. Got 'y' instead; columns are: a."
    """
    owner = f" of {caller}" if caller else ""
    message = f"The '{parameter}' parameter{owner} must {must}. Got {got} instead"
    message += f"; {detail}." if detail else "."
    return f"{message} {fix}" if fix else message


def listing(names: Iterable[object], limit: int = 8) -> str:
    """Names joined for a message, at most ``limit`` of them, so that it stays readable.

    Example:
        >>> listing(["a", "b", "c"])
        'a, b, c'
        >>> listing(range(12), limit=3)
        '0, 1, 2, ... (9 more)'
    """
    texts = [str(name) for name in names]
    shown = ", ".join(texts[:limit])
    return f"{shown}, ... ({len(texts) - limit} more)" if len(texts) > limit else shown
