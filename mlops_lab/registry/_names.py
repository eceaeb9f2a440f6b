"""Model names, aliases and references ("iris", "iris@3", "iris@champion")."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mlops_lab.errors import parameter_error
from mlops_lab.registry._errors import RegistryError

# An alias that reads as a number would be taken for a version in "name@3".
_INTEGER = re.compile(r"[+-]?\d+")

Selector = int | str | None
"""What follows '@' in a reference: a version, an alias, or nothing (the latest)."""


def check_name(value: object, parameter: str, caller: str) -> str:
    """Return ``value`` when it is a usable model name, else refuse it.

    Example:
        >>> check_name("iris", "name", "register")
        'iris'
    """
    if not isinstance(value, str) or not value or "@" in value or _has_space(value):
        must = "be a non-empty name without '@' or whitespace, such as 'iris'"
        raise RegistryError(parameter_error(parameter, f"{caller}()", must, repr(value)))
    return value


def check_alias(value: object, caller: str) -> str:
    """Return ``value`` when it is a usable alias: a name that is not a number."""
    alias = check_name(value, "alias", caller)
    if _INTEGER.fullmatch(alias):
        must = f"not be a number: 'name@{alias}' would be read as version {int(alias)}"
        fix = "Use a word such as 'champion'."
        raise RegistryError(parameter_error("alias", f"{caller}()", must, repr(alias), fix))
    return alias


def parse_ref(ref: object, caller: str) -> tuple[str, Selector]:
    """Split a model reference into its name and what follows '@'.

    Example:
        >>> parse_ref("iris@3", "load"), parse_ref("iris@champion", "load")
        (('iris', 3), ('iris', 'champion'))
    """
    if not isinstance(ref, str):
        must = "be 'name', 'name@<version>' or 'name@<alias>', such as 'iris@3'"
        raise RegistryError(parameter_error("ref", f"{caller}()", must, repr(ref)))
    name, sep, selector = ref.partition("@")
    check_name(name, "ref", caller)
    if not sep:
        return name, None
    if _INTEGER.fullmatch(selector):
        return name, int(selector)
    try:
        return name, check_alias(selector, caller)
    except RegistryError:
        must = "be 'name', 'name@<version>' or 'name@<alias>', such as 'iris@3' or 'iris@champion'"
        raise RegistryError(parameter_error("ref", f"{caller}()", must, repr(ref))) from None


def parse_dataset(dataset: object) -> tuple[str | None, str | None]:
    """Split a dataset reference "name@version" (or a bare "name") into its parts.

    Example:
        >>> parse_dataset("iris@abc123def456")
        ('iris', 'abc123def456')
    """
    if dataset is None:
        return None, None
    name, sep, version = dataset.partition("@") if isinstance(dataset, str) else ("", "", "")
    if not _is_part(name) or (sep and not _is_part(version)):
        must = (
            "be a dataset reference 'name@version' (or a bare 'name'), such as 'iris@abc123def456'"
        )
        raise RegistryError(parameter_error("dataset", "register()", must, repr(dataset)))
    return name, (version if sep else None)


def format_dataset(name: str | None, version: str | None) -> str | None:
    """The dataset reference stored as ``name`` and ``version``, as one string."""
    if name is None:
        return None
    return name if version is None else f"{name}@{version}"


def as_names(value: object, parameter: str, caller: str) -> tuple[str, ...]:
    """Read one name or a collection of names; a lone string counts as one name."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        names = tuple(value)
        if all(isinstance(item, str) for item in names):
            return tuple(dict.fromkeys(names))
    must = "be a list of strings, such as ['champion']"
    raise RegistryError(parameter_error(parameter, f"{caller}()", must, repr(value)))


def _has_space(text: str) -> bool:
    return any(char.isspace() for char in text)


def _is_part(text: str) -> bool:
    return bool(text) and "@" not in text and not _has_space(text)
