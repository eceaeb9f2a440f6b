"""The error the dataset registry raises for bad input and unknown references."""

from __future__ import annotations

from mlops_lab.errors import LabError, parameter_error

# Names a message lists at most (columns, datasets, versions): enough to spot a typo in.
LISTED = 20


class DatasetError(LabError, ValueError):
    """A dataset argument or reference is wrong; the message says how to fix it.

    Raised before anything is written, so the store is left as it was.
    """


def bad_parameter(
    param: str, caller: str, must: str, got: str, detail: str = "", fix: str = ""
) -> DatasetError:
    """A :class:`DatasetError` in the lab's parameter template (see ``parameter_error``).

    Example:
        >>> str(bad_parameter("target", "register", "name a column", "'y'", "columns are: a"))
        "The 'target' parameter of register() must name a column. Got 'y' instead; columns are: a."
    """
    return DatasetError(parameter_error(param, f"{caller}()", must, got, fix, detail=detail))
