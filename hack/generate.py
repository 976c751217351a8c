"""Generate the project's API files from the pydantic models in function/api/.

    python -m hack.generate           # write them
    python -m hack.generate --check   # exit 1, naming each file, if one is stale

The models are the single source of truth; this writes:

- for each XR kind in XR_KINDS (its models paired with its names; function-patch-and-
  transform's input/generate.go likewise has controller-gen write a CRD per API type), the
  Crossplane v2 XRD (apiextensions.crossplane.io/v2, namespaced XRs) and the Crossplane 1.x
  XRD (apiextensions.crossplane.io/v1, cluster-scoped): for UpboundEnvironment
  example/xrd.yaml, configuration/apis/upboundenvironment/definition.yaml, example/xrd-v1.yaml;
  for ControlPlaneGroup the same under example/controlplanegroup/ and
  configuration/apis/controlplanegroup/;
- package/input/upboundenvironment.fn.crossplane.io_inputs.yaml: the function input's CRD;
- docs/reference.md: every field, its type, default and description.

A model's JSON Schema (pydantic) becomes a Kubernetes structural schema in hack/schema.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from function import validate
from function.api import controlplanegroup, environment, types
from function.api.input import FunctionInput
from hack.schema import kubernetes_schema, without_doc_keys

ROOT = Path(__file__).resolve().parents[1]
GROUP = "platform.upbound.io"
VERSION = "v1alpha1"
INPUT_GROUP = "upboundenvironment.fn.crossplane.io"
INPUT_VERSION = "v1beta1"
GENERATED = "Generated from function/api/ by `python -m hack.generate`; do not edit."


@dataclass(frozen=True, slots=True)
class XrKind:
    """One XR kind: the models its XRD is generated from, paired with its names and files."""

    kind: str
    plural: str
    spec: type[pydantic.BaseModel]
    status: type[pydantic.BaseModel]
    description: str
    composition: str  # its default Composition's name
    # Crossplane appends SYNCED, READY, COMPOSITION and AGE to these itself.
    printer_columns: tuple[dict[str, str], ...]
    v2_paths: tuple[str, ...]  # where its v2 XRD (namespaced XRs) goes
    v1_paths: tuple[str, ...]  # where its 1.x XRD (cluster-scoped XRs) goes
    checks: str  # what the function checks beyond the XRD's rules, for docs/reference.md
    no_claim: tuple[str, ...]  # why the 1.x XRD offers no claim, as its header's lines


# Both kinds' status.summary counts, as printer columns.
_CONTROL_PLANE_COLUMNS = (
    {"name": "CONTROLPLANES", "type": "integer", "jsonPath": ".status.summary.controlPlanes"},
    {
        "name": "READY-CONTROLPLANES",
        "type": "integer",
        "jsonPath": ".status.summary.controlPlanesReady",
    },
)

UPBOUND_ENVIRONMENT = XrKind(
    kind="UpboundEnvironment",
    plural="upboundenvironments",
    spec=environment.EnvironmentSpec,
    status=environment.EnvironmentStatus,
    description="An Upbound organization's environment, run from Git: control plane "
    "groups and control planes in a Space, their Argo CD cluster registrations, and "
    "Upbound teams, robots and repositories.",
    composition="upboundenvironments",  # example/composition.yaml
    printer_columns=(
        {"name": "SPACE", "type": "string", "jsonPath": ".spec.space.type"},
        *_CONTROL_PLANE_COLUMNS,
    ),
    v2_paths=("example/xrd.yaml", "configuration/apis/upboundenvironment/definition.yaml"),
    v1_paths=("example/xrd-v1.yaml",),
    checks="a robot or permission naming an unknown\nteam, Argo CD cluster names that collide, "
    "a CA bundle that holds no certificate, a label key\nthat is not a Kubernetes label key",
    no_claim=("(an environment is one per", "organization and belongs to the platform team)."),
)
CONTROL_PLANE_GROUP = XrKind(
    kind="ControlPlaneGroup",
    plural="controlplanegroups",
    spec=controlplanegroup.ControlPlaneGroupSpec,
    status=controlplanegroup.ControlPlaneGroupStatus,
    description="One control plane group of a sharded UpboundEnvironment: its namespace in "
    "the Space, its control planes and their Argo CD cluster registrations. Composed by the "
    "UpboundEnvironment, not written by hand (docs/sharding.md).",
    composition="controlplanegroups",  # example/controlplanegroup/composition.yaml
    printer_columns=(
        {"name": "ENVIRONMENT", "type": "string", "jsonPath": ".spec.environment"},
        *_CONTROL_PLANE_COLUMNS,
    ),
    v2_paths=(
        "example/controlplanegroup/xrd.yaml",
        "configuration/apis/controlplanegroup/definition.yaml",
    ),
    v1_paths=("example/controlplanegroup/xrd-v1.yaml",),
    checks="Argo CD cluster names that collide, a CA bundle that\nholds no certificate, "
    "a token Secret outside a namespaced group's namespace",
    no_claim=("(its UpboundEnvironment composes", "it)."),
)
# Every XR kind the function serves.
XR_KINDS = (UPBOUND_ENVIRONMENT, CONTROL_PLANE_GROUP)

# --- The documents ---------------------------------------------------------------------------


def xr_schema(xr: XrKind) -> dict[str, Any]:
    """The openAPIV3Schema of an XR kind, with documentation keys."""
    return {
        "description": xr.description,
        "type": "object",
        "properties": {
            "spec": kubernetes_schema(xr.spec),
            "status": kubernetes_schema(xr.status, defaults=False),
        },
        "required": ["spec"],
    }


def input_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the function's Input, with documentation keys."""
    schema = kubernetes_schema(FunctionInput)
    schema["properties"] = {
        "apiVersion": {"type": "string", "description": f"{INPUT_GROUP}/{INPUT_VERSION}"},
        "kind": {"type": "string", "description": "Input"},
        "metadata": {"type": "object"},
        **schema["properties"],
    }
    return schema


def xrd(xr: XrKind, api_version: str) -> dict[str, Any]:
    """An XR kind's CompositeResourceDefinition: v2 (namespaced XRs) or v1 (cluster-scoped XRs).

    The v1 XRD offers no claim (`XrKind.no_claim` says why): a namespaced proxy of an XR
    that belongs to the platform team adds a second name and nothing else.
    """
    xrd_spec: dict[str, Any] = {"group": GROUP, "names": {"kind": xr.kind, "plural": xr.plural}}
    if api_version.endswith("/v2"):
        xrd_spec["scope"] = "Namespaced"
    xrd_spec["defaultCompositionRef"] = {"name": xr.composition}
    xrd_spec["versions"] = [
        {
            "name": VERSION,
            "served": True,
            "referenceable": True,
            "additionalPrinterColumns": list(xr.printer_columns),
            "schema": {"openAPIV3Schema": without_doc_keys(xr_schema(xr))},
        }
    ]
    return {
        "apiVersion": api_version,
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"{xr.plural}.{GROUP}"},
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
    **validate.PATTERN_HINTS,
    types.HOST_PATTERN: "must be host[:port] or an https:// URL of one",
    types.BASE64_PATTERN: "must be base64",
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
    spaces = ", ".join(node.get(types.SPACE_TYPES_KEY, ()))
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


_ONE_FATAL = (
    "A spec that breaks one gives a single Fatal result listing\n"
    "every problem, and changes nothing."
)
_CROSSPLANE_COLUMNS = "Crossplane's `SYNCED`, `READY`, `COMPOSITION` and `AGE`"


def _xr_reference(xr: XrKind) -> str:
    """The docs/reference.md section of an XR kind: its spec, rules and status."""
    schema = xr_schema(xr)
    columns = [f"`{c['name']}`" for c in xr.printer_columns]
    shown = ", ".join(columns[:-1]) + f" and\n{columns[-1]}"
    return f"""## {xr.kind}

`{GROUP}/{VERSION}`, kind `{xr.kind}`, XRD `{xr.plural}.{GROUP}`: namespaced
with Crossplane v2 (`{xr.v2_paths[0]}`), cluster-scoped with Crossplane 1.x
(`{xr.v1_paths[0]}`). `kubectl get {xr.plural}` lists them.

Crossplane adds its own fields to `spec` (such as `compositionRef`, under `spec.crossplane` in
v2) and `status` (such as `conditions`); they are not listed here. The API server fills in a
default when the field's parent is present.
"Spaces" names the Space types a field applies to, where it does not apply to all.

{xr.spec.__doc__}

{_table(schema["properties"]["spec"], "spec")}
### Rules across fields

{_bullets(schema["properties"]["spec"])}
The function checks every rule above too, and more: {xr.checks}. {_ONE_FATAL}

### Status

Written by the function. `kubectl get` shows {shown} from it, then {_CROSSPLANE_COLUMNS}.

{_table(schema["properties"]["status"], "status")}
"""


def reference_markdown() -> str:
    """docs/reference.md: every XR kind's spec and status, and the function input."""
    sections = "".join(_xr_reference(xr) for xr in XR_KINDS)
    return f"""<!-- {GENERATED} -->
# API reference

{sections}## Function input

`{INPUT_GROUP}/{INPUT_VERSION}`, kind `Input`: the `input` of the Composition's pipeline step
(`package/input/`). Its settings are defaults for every XR of the Composition; an XR's own
spec wins.

{_table(input_schema(), "input")}"""


# --- Command ---------------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    """Every generated file, by path relative to the repository root, with its content."""
    files: dict[Path, str] = {}
    for xr in XR_KINDS:
        v2 = to_yaml(xrd(xr, "apiextensions.crossplane.io/v2"), "Crossplane v2: namespaced XRs.")
        v1 = to_yaml(
            xrd(xr, "apiextensions.crossplane.io/v1"),
            "Crossplane 1.x: cluster-scoped XRs, without a claim " + xr.no_claim[0],
            *xr.no_claim[1:],
        )
        files |= {Path(p): v2 for p in xr.v2_paths} | {Path(p): v1 for p in xr.v1_paths}
    files[Path(f"package/input/{INPUT_GROUP}_inputs.yaml")] = to_yaml(input_crd())
    files[Path("docs/reference.md")] = reference_markdown()
    return files


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
