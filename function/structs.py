"""Plain Python values into protobuf Structs and back, fast.

`write(struct, mapping)` does what `Struct.update(mapping)` does (each key replaced, nested
dicts and lists rebuilt, the rest of the Struct kept) about twice as fast: it dispatches on
exact types, the ones builders produce, and writes the C-backed fields directly instead of
going through protobuf's pure-Python well-known-type helpers. `read(struct)` gives what the
SDK's `resource.struct_to_dict` gives (protobuf's json_format) several times as fast.
"""

import math
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


def read(struct: struct_pb2.Struct) -> dict[str, Any]:
    """The Struct as a dict, as `resource.struct_to_dict` gives it (numbers are floats)."""
    fields = struct.fields
    return {key: _get(fields[key]) for key in fields}  # items() costs half as much again


def _get(value: struct_pb2.Value) -> Any:
    """One Value as json_format reads it: unset is None; infinity and NaN raise ValueError."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return read(value.struct_value)
    if kind == "list_value":
        return [_get(item) for item in value.list_value.values]
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        number = value.number_value
        if math.isinf(number) or math.isnan(number):
            msg = "a Struct number is infinite or NaN, which JSON cannot hold"
            raise ValueError(msg)
        return number
    return None
