"""Text from the outside is made encodable without losing what was sent."""

from __future__ import annotations

import json

from hypothesis import assume, given
from hypothesis import strategies as st

from mlops_lab._json import encodable_value, may_escape_surrogate
from mlops_lab._text import encodable

# Any code point, lone surrogates included: what json.loads can hand the lab.
_any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_any_text, inner, max_size=3),
    max_leaves=10,
)


def test_valid_text_is_returned_as_it_is() -> None:
    """Text UTF-8 can hold comes back as the same object."""
    text = "café ☕ \U0001f600"
    assert encodable(text) is text


def test_a_lone_surrogate_becomes_its_escape() -> None:
    """A lone surrogate is written as the escape a reader recognises."""
    assert encodable("key \ud800!") == "key \\ud800!"


@given(_any_text)
def test_any_text_encodes(text: str) -> None:
    """Whatever the text, the result encodes as UTF-8."""
    encodable(text).encode("utf-8")


@given(_values)
def test_any_value_dumps_as_utf8_json(value: object) -> None:
    """Every string of a nested value, keys included, encodes once made encodable."""
    json.dumps(encodable_value(value), ensure_ascii=False).encode("utf-8")


def test_strings_from_json_escapes_are_made_encodable() -> None:
    """A body holding an escaped lone surrogate reads back as encodable text."""
    value = json.loads('{"instances": [{"\\ud800": "\\udfff"}]}')
    assert encodable_value(value) == {"instances": [{"\\ud800": "\\udfff"}]}


# Text built from pieces that make a sniff go wrong if it can: surrogates, astral characters,
# backslashes and the letters of an escape.
_tricky_text = st.lists(
    st.sampled_from(["a", "é", "\ud800", "\udfff", "\U0001f600", "\\", "u", "d8", "\n"])
).map("".join)


@given(st.lists(_tricky_text | _any_text, max_size=4), st.booleans())
def test_json_without_a_surrogate_escape_decodes_to_encodable_text(
    value: list[str], ascii_only: bool
) -> None:
    """The sniff that lets a reader skip the walk never misses a lone surrogate."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    assume(encodable(text) == text)  # what reaches a reader is UTF-8 (bytes or a line)
    if not may_escape_surrogate(text):
        assert encodable_value(json.loads(text)) == json.loads(text)
    assert may_escape_surrogate(text.encode("utf-8")) == may_escape_surrogate(text)
