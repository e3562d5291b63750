"""What a metadata document offers to search (users.search.leaves), rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from users.search.leaves import leaves, parse_moment


def pairs(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for leaf in leaves(doc):
        value: Any = leaf.text if leaf.kind == "s" else leaf.number
        if leaf.kind == "b":
            value = bool(leaf.number)
        out.append((leaf.path, value))
    return out


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"theme": "dark"}, [("theme", "dark")]),
        ({"a": {"b": {"c": 1}}}, [("a.b.c", 1.0)]),
        ({"flag": True, "off": False}, [("flag", True), ("off", False)]),
        ({"hobbies": ["chess", "go"]}, [("hobbies", "chess"), ("hobbies", "go")]),
        (
            {"addresses": [{"city": "Paris"}, {"city": "Oslo"}]},
            [("addresses.city", "Paris"), ("addresses.city", "Oslo")],
        ),
        ({"grid": [[1, 2], [3]]}, [("grid", 1.0), ("grid", 2.0), ("grid", 3.0)]),
        ({"deep": [[[1]]]}, []),  # a third array level is not searched
        ({"nested": [[{"b": 1}]]}, []),  # objects inside arrays of arrays are not either
        ({"n": None, "e": {}, "l": [], "x": [None]}, []),  # nothing to find
        ({"mixed": [1, {"k": "v"}, "s"]}, [("mixed", 1.0), ("mixed.k", "v"), ("mixed", "s")]),
    ],
)
def test_leaves(doc: dict[str, Any], expected: list[tuple[str, Any]]) -> None:
    assert sorted(pairs(doc), key=repr) == sorted(expected, key=repr)


def test_the_first_leaf_of_each_path_is_marked_for_sorting() -> None:
    marked = [(leaf.path, leaf.first) for leaf in leaves({"h": ["a", "b"], "x": 1})]
    assert marked == [("h", True), ("h", False), ("x", True)]


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-11-05", datetime(2024, 11, 5, tzinfo=UTC)),
        ("2024-11-05T10:30:00Z", datetime(2024, 11, 5, 10, 30, tzinfo=UTC)),
        ("2024-11-05T10:30:00+02:00", datetime(2024, 11, 5, 8, 30, tzinfo=UTC)),
        ("2024-02-30", None),
        ("2024-11", None),
        ("not a date", None),
    ],
)
def test_iso_dates_become_moments(text: str, moment: datetime | None) -> None:
    assert parse_moment(text) == moment


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text("ab", min_size=1, max_size=2), children, max_size=3)
    ),
    max_leaves=15,
)


@given(st.dictionaries(st.text("abc", min_size=1, max_size=2), JSON, max_size=4))
def test_every_leaf_is_a_scalar_at_a_real_path(doc: dict[str, Any]) -> None:
    for leaf in leaves(doc):
        assert leaf.kind in ("s", "n", "b")
        assert all(part for part in leaf.path.split("."))
        assert leaf.path.split(".")[0] in doc
