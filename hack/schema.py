"""A pydantic model's JSON Schema as a Kubernetes structural schema (for hack/generate.py).

`$ref`s are inlined, optional fields (`X | None`) become plain `X`, a dict of labels becomes
`additionalProperties`, and the models' extras (CEL rules, list bounds) are kept. Keys that
only docs/reference.md reads stay until `without_doc_keys` drops them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from function.api import types

# Keywords copied as they are, in this order, after description/type.
_VALUE_KEYWORDS = (
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "maxItems",
    "x-kubernetes-list-type",
)
# Pydantic keywords that Kubernetes has no use for: it prunes unknown fields itself, and the
# label key pattern cannot be said in a structural schema (parse() checks keys).
_DROPPED_KEYWORDS = {"title", "additionalProperties", "propertyNames"}
DOC_KEYWORDS = {types.SPACE_TYPES_KEY}


def kubernetes_schema(model: type[pydantic.BaseModel], *, defaults: bool = True) -> dict[str, Any]:
    """A model's Kubernetes structural openAPIV3Schema, still holding documentation keys.

    Args:
        model: A pydantic model of function/api/.
        defaults: Keep `default`s that say something (booleans, numbers, non-empty strings).

    Returns:
        The schema; `without_doc_keys` makes it fit for a CRD.
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _convert(raw, definitions, defaults=defaults)


def _inline(node: Mapping[str, Any], definitions: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve `$ref` and `anyOf [X, null]`; the field's own keywords win over X's."""
    out = dict(node)
    while True:
        if "$ref" in out:
            target = definitions[out.pop("$ref").rsplit("/", 1)[-1]]
        elif "anyOf" in out:
            options = [o for o in out.pop("anyOf") if o.get("type") != "null"]
            if len(options) != 1:
                msg = f"cannot express anyOf {options} in a structural schema"
                raise ValueError(msg)
            target = options[0]
        else:
            return out
        out = {**target, **out}


def _convert(
    node: Mapping[str, Any], definitions: Mapping[str, Any], *, defaults: bool
) -> dict[str, Any]:
    """Convert one resolved JSON Schema node, and its children, to Kubernetes' form."""
    node = _inline(node, definitions)
    known = {"description", "type", "default", "properties", "required", "items"}
    known |= {"patternProperties", "x-kubernetes-validations", *_VALUE_KEYWORDS}
    unknown = set(node) - known - _DROPPED_KEYWORDS - DOC_KEYWORDS
    if unknown:
        msg = f"no Kubernetes form for {sorted(unknown)} in {node}"
        raise ValueError(msg)
    out: dict[str, Any] = {}
    if "description" in node:
        out["description"] = " ".join(node["description"].split())
    out["type"] = node["type"]
    default = node.get("default")
    if defaults and (isinstance(default, bool | int) or (isinstance(default, str) and default)):
        out["default"] = default
    out |= {k: node[k] for k in _VALUE_KEYWORDS if k in node}
    if "properties" in node:
        out["properties"] = {
            name: _convert(child, definitions, defaults=defaults)
            for name, child in node["properties"].items()
        }
    if node.get("required"):
        out["required"] = list(node["required"])
    if "items" in node:
        out["items"] = _convert(node["items"], definitions, defaults=defaults)
    if "patternProperties" in node:
        (values,) = node["patternProperties"].values()
        out["additionalProperties"] = _convert(values, definitions, defaults=defaults)
    if "x-kubernetes-validations" in node:
        rules = node["x-kubernetes-validations"]
        out["x-kubernetes-validations"] = [
            {"rule": r["rule"], "message": r["message"]} for r in rules
        ]
    out |= {k: node[k] for k in DOC_KEYWORDS if k in node}
    return out


def without_doc_keys(node: Any) -> Any:
    """A copy of a schema without the keys that only docs/reference.md reads."""
    if isinstance(node, dict):
        return {k: without_doc_keys(v) for k, v in node.items() if k not in DOC_KEYWORDS}
    if isinstance(node, list):
        return [without_doc_keys(v) for v in node]
    return node
