"""The error the dataset registry raises for bad input and unknown references."""

from __future__ import annotations

from collections.abc import Iterable


class DatasetError(ValueError):
    """A dataset argument or reference is wrong; the message says how to fix it.

    Raised before anything is written, so the store is left as it was.
    """


def bad_parameter(
    param: str, caller: str, must: str, got: str, detail: str = "", fix: str = ""
) -> DatasetError:
    """An error in the project's template, naming the parameter, the rule and the value.

    Example:
        >>> str(bad_parameter("target", "register", "name a column", "'y'", "columns are: a"))
        "The 'target' parameter of register() must name a column. Got 'y' instead; columns are: a."
    """
    message = f"The '{param}' parameter of {caller}() must {must}. Got {got} instead"
    message += f"; {detail}." if detail else "."
    return DatasetError(f"{message} {fix}" if fix else message)


def listing(names: Iterable[object], limit: int = 20) -> str:
    """Names joined for a message; a long list is cut so the message stays readable."""
    texts = [str(name) for name in names]
    shown = ", ".join(texts[:limit])
    return f"{shown}, ... ({len(texts) - limit} more)" if len(texts) > limit else shown
