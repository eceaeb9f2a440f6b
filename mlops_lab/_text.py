r"""Text from the outside made encodable, so that no string can fail a row, message or response.

JSON can carry a lone UTF-16 surrogate (``"\ud800"``), and Python decodes it into a ``str``
that UTF-8 cannot encode: DuckDB, Arrow and every response writer then raise. Where such text
enters a log row, an error message or a response it is passed through :func:`encodable`,
which never raises and keeps what was sent readable (the surrogate becomes the six characters
``\ud800``). Valid text comes back as the very same object, at the cost of one encode.
Nested values (a parsed body) go through :func:`mlops_lab._json.encodable_value`.
"""

from __future__ import annotations


def encodable(text: str) -> str:
    r"""``text`` as UTF-8 can hold it: each lone surrogate written as its escape, e.g. ``\ud800``.

    Example:
        >>> encodable("café")
        'café'
        >>> encodable("bad \ud800 key")
        'bad \\ud800 key'
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
