"""Generate the project's API files from the pydantic models in function/spec.py.

    python -m hack.generate           # write them
    python -m hack.generate --check   # exit 1, naming each file, if one is stale

The models are the single source of truth; this writes:

- example/xrd.yaml and configuration/apis/upboundenvironment/definition.yaml: the Crossplane v2
  XRD (apiextensions.crossplane.io/v2, namespaced XRs);
- example/xrd-v1.yaml: the Crossplane 1.x XRD (apiextensions.crossplane.io/v1, cluster-scoped);
- package/input/upboundenvironment.fn.crossplane.io_inputs.yaml: the function input's CRD;
- docs/reference.md: every field, its type, default and description.

A model's JSON Schema (pydantic) becomes a Kubernetes structural schema (`kubernetes_schema`):
`$ref`s are inlined, optional fields (`X | None`) become plain `X`, a dict of labels becomes
`additionalProperties`, and the extras in spec.py (CEL rules, list bounds) are kept.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml

from function import spec

ROOT = Path(__file__).resolve().parents[1]
GROUP = "platform.upbound.io"
KIND = "UpboundEnvironment"
PLURAL = "upboundenvironments"
VERSION = "v1alpha1"
COMPOSITION = "upboundenvironments"  # example/composition.yaml
INPUT_GROUP = "upboundenvironment.fn.crossplane.io"
INPUT_VERSION = "v1beta1"
GENERATED = "Generated from function/spec.py by `python -m hack.generate`; do not edit."

# Crossplane appends SYNCED, READY, COMPOSITION and AGE to these itself.
PRINTER_COLUMNS = [
    {"name": "SPACE", "type": "string", "jsonPath": ".spec.space.type"},
    {"name": "CONTROLPLANES", "type": "integer", "jsonPath": ".status.summary.controlPlanes"},
    {
        "name": "READY-CONTROLPLANES",
        "type": "integer",
        "jsonPath": ".status.summary.controlPlanesReady",
    },
]

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
_DOC_KEYWORDS = {spec.SPACE_TYPES_KEY}


# --- pydantic JSON Schema -> Kubernetes structural schema -------------------------------------


def kubernetes_schema(model: type[pydantic.BaseModel], *, defaults: bool = True) -> dict[str, Any]:
    """A model's Kubernetes structural openAPIV3Schema, still holding documentation keys.

    Args:
        model: A pydantic model of function/spec.py.
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
    unknown = set(node) - known - _DROPPED_KEYWORDS - _DOC_KEYWORDS
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
    out |= {k: node[k] for k in _DOC_KEYWORDS if k in node}
    return out


def without_doc_keys(node: Any) -> Any:
    """A copy of a schema without the keys that only docs/reference.md reads."""
    if isinstance(node, dict):
        return {k: without_doc_keys(v) for k, v in node.items() if k not in _DOC_KEYWORDS}
    if isinstance(node, list):
        return [without_doc_keys(v) for v in node]
    return node


# --- The documents ---------------------------------------------------------------------------


def xr_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the UpboundEnvironment XR, with documentation keys."""
    return {
        "description": "An Upbound organization's environment, run from Git: control plane "
        "groups and control planes in a Space, their Argo CD cluster registrations, and "
        "Upbound teams, robots and repositories.",
        "type": "object",
        "properties": {
            "spec": kubernetes_schema(spec.EnvironmentSpec),
            "status": kubernetes_schema(spec.EnvironmentStatus, defaults=False),
        },
        "required": ["spec"],
    }


def input_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the function's Input, with documentation keys."""
    schema = kubernetes_schema(spec.FunctionInput)
    schema["properties"] = {
        "apiVersion": {"type": "string", "description": f"{INPUT_GROUP}/{INPUT_VERSION}"},
        "kind": {"type": "string", "description": "Input"},
        "metadata": {"type": "object"},
        **schema["properties"],
    }
    return schema


def xrd(api_version: str) -> dict[str, Any]:
    """The CompositeResourceDefinition: v2 (namespaced XRs) or v1 (cluster-scoped XRs).

    The v1 XRD offers no claim: an environment is one per organization and belongs to the
    platform team, so a namespaced proxy of it adds a second name and nothing else.
    """
    xrd_spec: dict[str, Any] = {"group": GROUP, "names": {"kind": KIND, "plural": PLURAL}}
    if api_version.endswith("/v2"):
        xrd_spec["scope"] = "Namespaced"
    xrd_spec["defaultCompositionRef"] = {"name": COMPOSITION}
    xrd_spec["versions"] = [
        {
            "name": VERSION,
            "served": True,
            "referenceable": True,
            "additionalPrinterColumns": PRINTER_COLUMNS,
            "schema": {"openAPIV3Schema": without_doc_keys(xr_schema())},
        }
    ]
    return {
        "apiVersion": api_version,
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": xrd_spec,
    }


def input_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of the function input, as `crossplane xpkg build` wants."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"inputs.{INPUT_GROUP}"},
        "spec": {
            "group": INPUT_GROUP,
            "names": {
                "categories": ["crossplane"],
                "kind": "Input",
                "listKind": "InputList",
                "plural": "inputs",
                "singular": "input",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": INPUT_VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": without_doc_keys(input_schema())},
                }
            ],
        },
    }


def to_yaml(document: Mapping[str, Any], *comments: str) -> str:
    """YAML text of a document, after `# ` comment lines."""
    header = "".join(f"# {line}\n" for line in (GENERATED, *comments))
    return header + yaml.safe_dump(dict(document), sort_keys=False, width=100)


# --- docs/reference.md -----------------------------------------------------------------------

_PATTERN_HINTS = {
    **spec.PATTERN_HINTS,
    spec.HOST_PATTERN: "must be host[:port] or an https:// URL of one",
    spec.BASE64_PATTERN: "must be base64",
}


def _type_of(node: Mapping[str, Any]) -> str:
    """A short type name: string, []object, map[string]string."""
    if node["type"] == "array":
        return "[]" + _type_of(node["items"])
    if node["type"] == "object" and "additionalProperties" in node:
        return "map[string]" + _type_of(node["additionalProperties"])
    return str(node["type"])


def _rules_of(node: Mapping[str, Any], *, required: bool) -> str:
    """The constraints of a field, as prose."""
    notes = ["Required."] if required else []
    if "enum" in node:
        notes.append("One of " + ", ".join(f"`{v}`" for v in node["enum"]) + ".")
    if "pattern" in node:
        hint = _PATTERN_HINTS.get(node["pattern"], f"must match `{node['pattern']}`")
        notes.append(hint[0].upper() + hint[1:] + ".")
    for keyword, text in (
        ("maxLength", "At most {} characters."),
        ("minimum", "At least {}."),
        ("maximum", "At most {}."),
        ("maxItems", "At most {} entries."),
    ):
        if keyword in node:
            notes.append(text.format(node[keyword]))
    if node.get("x-kubernetes-list-type") == "set":
        notes.append("No duplicates.")
    notes += [f"Rule: {r['message']}." for r in node.get("x-kubernetes-validations", ())]
    return " ".join(notes)


def _rows(node: Mapping[str, Any], path: str, *, required: bool = False) -> Iterator[str]:
    """Table rows for a field and, depth first, its children."""
    default = f"`{str(node['default']).lower()}`" if "default" in node else ""
    if isinstance(node.get("default"), str):
        default = f"`{node['default']}`"
    spaces = ", ".join(node.get(spec.SPACE_TYPES_KEY, ()))
    text = " ".join(filter(None, (node.get("description", ""), _rules_of(node, required=required))))
    yield f"| `{path}` | {_type_of(node)} | {default} | {spaces} | {text.replace('|', '/')} |"
    child = node["items"] if node["type"] == "array" else node
    suffix = "[]" if node["type"] == "array" else ""
    for name, prop in child.get("properties", {}).items():
        yield from _rows(prop, f"{path}{suffix}.{name}", required=name in child.get("required", ()))


def _bullets(node: Mapping[str, Any]) -> str:
    """A markdown list of a node's own rule messages."""
    return "".join(
        f"- {r['message'][0].upper()}{r['message'][1:]}.\n"
        for r in node["x-kubernetes-validations"]
    )


def _table(node: Mapping[str, Any], root: str) -> str:
    """A markdown table of every field under a schema node."""
    head = "| Field | Type | Default | Spaces | Description |\n|---|---|---|---|---|\n"
    rows = [
        row
        for name, prop in node["properties"].items()
        for row in _rows(prop, f"{root}.{name}", required=name in node.get("required", ()))
    ]
    return head + "\n".join(rows) + "\n"


def reference_markdown() -> str:
    """docs/reference.md: the XR's spec and status, and the function input."""
    xr = xr_schema()
    return f"""<!-- {GENERATED} -->
# API reference

## UpboundEnvironment

`{GROUP}/{VERSION}`, kind `{KIND}`, XRD `{PLURAL}.{GROUP}`: namespaced
with Crossplane v2 (`example/xrd.yaml`), cluster-scoped with Crossplane 1.x
(`example/xrd-v1.yaml`). `kubectl get {PLURAL}` lists them.

Crossplane adds its own fields to `spec` (such as `compositionRef`, under `spec.crossplane` in
v2) and `status` (such as `conditions`); they are not listed here. The API server fills in a
default when the field's parent is present.
"Spaces" names the Space types a field applies to, where it does not apply to all.

{spec.EnvironmentSpec.__doc__}

{_table(xr["properties"]["spec"], "spec")}
### Rules across fields

{_bullets(xr["properties"]["spec"])}
The function checks every rule above too, and more: a robot or permission naming an unknown
team, Argo CD cluster names that collide, a CA bundle that holds no certificate, a label key
that is not a Kubernetes label key. A spec that breaks one gives a single Fatal result listing
every problem, and changes nothing.

### Status

Written by the function. `kubectl get` shows `SPACE`, `CONTROLPLANES` and
`READY-CONTROLPLANES` from it, then Crossplane's `SYNCED`, `READY`, `COMPOSITION` and `AGE`.

{_table(xr["properties"]["status"], "status")}
## Function input

`{INPUT_GROUP}/{INPUT_VERSION}`, kind `Input`: the `input` of the Composition's pipeline step
(`package/input/`). Its settings are defaults for every XR of the Composition; an XR's own
spec wins.

{_table(input_schema(), "input")}"""


# --- Command ---------------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    """Every generated file, by path relative to the repository root, with its content."""
    v2 = to_yaml(xrd("apiextensions.crossplane.io/v2"), "Crossplane v2: namespaced XRs.")
    v1 = to_yaml(
        xrd("apiextensions.crossplane.io/v1"),
        "Crossplane 1.x: cluster-scoped XRs, without a claim (an environment is one per",
        "organization and belongs to the platform team).",
    )
    return {
        Path("example/xrd.yaml"): v2,
        Path("example/xrd-v1.yaml"): v1,
        Path("configuration/apis/upboundenvironment/definition.yaml"): v2,
        Path(f"package/input/{INPUT_GROUP}_inputs.yaml"): to_yaml(input_crd()),
        Path("docs/reference.md"): reference_markdown(),
    }


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files under root that are missing or differ from what would be written."""
    return [
        path
        for path, text in outputs().items()
        if not (root / path).is_file() or (root / path).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    """Write the generated files, or with --check report the stale ones."""
    parser = argparse.ArgumentParser(prog="python -m hack.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        paths = stale()
        for path in paths:
            print(f"{path} is stale: run python -m hack.generate", file=sys.stderr)
        return 1 if paths else 0
    for path, text in outputs().items():
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
