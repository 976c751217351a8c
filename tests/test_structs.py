"""structs.write builds the same Struct as protobuf's Struct.update."""

from typing import Any

import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from function import structs

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
mappings = st.dictionaries(st.text(max_size=6), values, max_size=6)


def updated(before: dict[str, Any], mapping: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(before)
    struct.update(mapping)
    return struct


@given(before=mappings, mapping=mappings)
def test_write_matches_struct_update(before: dict[str, Any], mapping: dict[str, Any]) -> None:
    struct = struct_pb2.Struct()
    struct.update(before)
    structs.write(struct, mapping)
    assert struct == updated(before, mapping)


def test_write_accepts_structs_and_list_values() -> None:
    nested = struct_pb2.Struct()
    nested.update({"a": [1, "x", {"b": None}]})
    items = struct_pb2.ListValue()
    items.extend([True, 2.5])
    struct = struct_pb2.Struct()
    structs.write(struct, {"nested": nested, "items": items})
    assert struct == updated({}, {"nested": {"a": [1, "x", {"b": None}]}, "items": [True, 2.5]})


def test_write_rejects_what_a_struct_cannot_hold() -> None:
    with pytest.raises(ValueError, match="cannot put a bytes"):
        structs.write(struct_pb2.Struct(), {"raw": b"bytes"})
