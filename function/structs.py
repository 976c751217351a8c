"""Plain Python values into protobuf Structs, fast.

`write(struct, mapping)` does what `Struct.update(mapping)` does (each key replaced, nested
dicts and lists rebuilt, the rest of the Struct kept) about twice as fast: it dispatches on
exact types, the ones builders produce, and writes the C-backed fields directly instead of
going through protobuf's pure-Python well-known-type helpers.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import struct_pb2


def write(struct: struct_pb2.Struct, mapping: Mapping[str, Any] | struct_pb2.Struct) -> None:
    """Set every key of `mapping` in `struct`, as `Struct.update` does."""
    fields = struct.fields
    for key, value in mapping.items():
        _set(fields[key], value)


def _set(target: struct_pb2.Value, value: Any) -> None:
    """Set one Value; exact types first, then the general cases `Struct.update` accepts."""
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is dict:
        nested = target.struct_value
        nested.Clear()
        write(nested, value)
    elif kind is bool:
        target.bool_value = value
    elif kind is list:
        _extend(target.list_value, value)
    elif kind is int or kind is float:
        target.number_value = value
    elif value is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, int | float):
        target.number_value = value
    elif isinstance(value, Mapping | struct_pb2.Struct):
        nested = target.struct_value
        nested.Clear()
        write(nested, value)
    elif isinstance(value, list | tuple | struct_pb2.ListValue):
        _extend(target.list_value, value)
    else:
        msg = f"cannot put a {kind.__name__} in a protobuf Struct"
        raise ValueError(msg)


def _extend(target: struct_pb2.ListValue, items: Iterable[Any]) -> None:
    """Replace a ListValue's items."""
    target.Clear()
    values = target.values
    for item in items:
        _set(values.add(), item)
