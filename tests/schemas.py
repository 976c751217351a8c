"""Validate composed resources against the real upstream schemas, as the API server would.

The schemas are reference data in `../shared/crds/` (next to the repository; the environment
variable `UPBOUND_ENV_CRDS_DIR` points elsewhere). They are read at run time, never copied.
Where they are missing, a test that needs them fails, unless `UPBOUND_ENV_SKIP_REFERENCE_DATA=1`
(CI without the data, e.g. in a fork) makes it skip, with the reason in pytest's summary.

    from tests.schemas import assert_valid, validate

    assert validate(resource) == []   # or: assert_valid(resource)

How a resource is checked (`validate` is the dispatcher):

1. Its apiVersion+kind selects a served CRD version (`_index`, every CRD YAML under the
   directory). An unknown apiVersion/kind is an error, never silently valid.
2. Kubernetes applies schema `default`s first (`_apply_defaults`), then validates the
   openAPIV3Schema, converted to JSON Schema by `to_jsonschema`. Unlike Kubernetes, which
   silently prunes unknown fields, an unknown field is an error here: it is always a bug.
3. Every `x-kubernetes-validations` CEL rule is evaluated with cel-python (`_rule_errors`),
   skipping transition rules (they use `oldSelf`; we validate creates). As in Kubernetes, CEL
   is skipped when there are type or enum errors, a rule on an absent field is not evaluated,
   an evaluation error is a failure, and `has(a.b.c)` is an error when `a.b` is absent.
4. A provider-kubernetes `Object`'s `spec.forProvider.manifest` is validated recursively:
   Namespace, Secret and ConfigMap with the OpenAPI schemas that `kubernetes-validate`
   bundles (newest Kubernetes, strict), Spaces kinds (ControlPlane, ObjectRoleBinding) with
   their CRDs. An Argo CD cluster Secret must use base64 `data` (not `stringData`), and its
   decoded keys and `config` JSON are checked against the JSON Schemas in `argocd/`.

Errors read `<location>: <problem>`, e.g.
`spec.forProvider.manifest.spec.crossplane.version: The version must not start with a leading 'v'`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import celpy
import jsonschema
import kubernetes_validate
import lark
import pytest
import yaml
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, Evaluator
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

CRDS_DIR_ENV = "UPBOUND_ENV_CRDS_DIR"
SKIP_ENV = "UPBOUND_ENV_SKIP_REFERENCE_DATA"

OBJECT_API_VERSIONS = frozenset(
    {
        "kubernetes.crossplane.io/v1alpha1",
        "kubernetes.crossplane.io/v1alpha2",
        "kubernetes.m.crossplane.io/v1alpha1",
    }
)
# Kinds an Object may wrap: core kinds (checked with kubernetes-validate) and the CRDs of
# these folders. Anything else is reported, so a new wrapped kind gets a schema on purpose.
WRAPPABLE_CORE_KINDS = frozenset({("v1", "Namespace"), ("v1", "Secret"), ("v1", "ConfigMap")})
CLUSTER_SCOPED_CORE_KINDS = frozenset({"Namespace"})
WRAPPABLE_CRD_FOLDERS = frozenset({"spaces"})

ARGOCD_SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUALIFIED_NAME = (  # label and annotation keys: optional DNS-subdomain prefix, then a name
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def metadata_schema(*, name_is_label: bool = False) -> dict[str, Any]:
    """JSON Schema of the `metadata` a composed resource may set.

    CRDs only say `type: object` here; the API server checks names, labels and annotations
    itself. Server-managed fields (uid, resourceVersion, ...) count as unknown fields.

    Args:
        name_is_label: The kind's name must be a DNS-1123 label (Namespace), not a subdomain.

    Returns:
        The schema, a fresh dict.
    """
    name = (
        {"type": "string", "maxLength": 63, "pattern": DNS_LABEL}
        if name_is_label
        else {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN}
    )
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": name,
            "generateName": {"type": "string"},
            "namespace": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
            "labels": {
                "type": "object",
                "propertyNames": {"maxLength": 317, "pattern": QUALIFIED_NAME},
                "additionalProperties": {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE},
            },
            "annotations": {
                "type": "object",
                "propertyNames": {"maxLength": 317, "pattern": QUALIFIED_NAME},
                "additionalProperties": {"type": "string"},
            },
            "finalizers": {"type": "array", "items": {"type": "string"}},
            "ownerReferences": {"type": "array", "items": {"type": "object"}},
        },
    }


# --- Loader -----------------------------------------------------------------------------------


def crds_dir() -> Path:
    """Directory of the reference CRDs.

    Returns:
        `$UPBOUND_ENV_CRDS_DIR` if set, else `<repo root>/../shared/crds`.
    """
    override = os.environ.get(CRDS_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "crds"


def reference_root() -> Path:
    """crds_dir(), to read from: a missing one skips the calling test if SKIP_ENV is 1.

    Without SKIP_ENV the caller goes on and fails on the missing files, loudly.
    """
    root = crds_dir()
    if not root.is_dir() and os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"no reference data at {root} ({SKIP_ENV}=1)")
    return root


@dataclass(frozen=True)
class Crd:
    """One served version of a CRD.

    Attributes:
        folder: The crds_dir subfolder it came from, e.g. `spaces`.
        cluster_scoped: Whether the kind is cluster-scoped.
        schema: The version's openAPIV3Schema, as written (used for defaults and CEL).
        validator: A JSON Schema validator for `to_jsonschema(schema)`.
    """

    folder: str
    cluster_scoped: bool
    schema: dict[str, Any]
    validator: jsonschema.protocols.Validator


_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml if available: 10x faster


@functools.lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str], Crd]:
    """Every served CRD version under crds_dir(), keyed by (apiVersion, kind); built once."""
    root = reference_root()
    index: dict[tuple[str, str], Crd] = {}
    for path in sorted(root.rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=_YamlLoader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if not version.get("served"):
                    continue
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                if key in index:
                    msg = f"{key} is defined twice under {root}"
                    raise ValueError(msg)
                schema = version["schema"]["openAPIV3Schema"]
                index[key] = Crd(
                    folder=path.relative_to(root).parts[0],
                    cluster_scoped=spec["scope"] == "Cluster",
                    schema=schema,
                    validator=jsonschema.Draft202012Validator(to_jsonschema(schema, root=True)),
                )
    if not index:
        msg = f"no CRDs found under {root} (set {CRDS_DIR_ENV} to the reference CRDs)"
        raise FileNotFoundError(msg)
    return index


@functools.cache
def _core_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """Validator for a core kind from kubernetes-validate's newest strict schemas.

    This is what `kubernetes_validate.validate(data, latest_version(), strict=True)` does,
    except that it is built once (that call re-reads 2 MB of definitions) and reports every
    error, not just the first. `metadata` is replaced by `metadata_schema()`.
    """
    version = kubernetes_validate.latest_version()
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    schema = schema_contents(f"{folder}/{kind.lower()}-{api_version}.json", version)
    definitions = schema_contents(f"{folder}/_definitions.json", version)
    schema["properties"]["metadata"] = metadata_schema(name_is_label=kind == "Namespace")
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def _json_schema_validator(relative_path: str) -> jsonschema.protocols.Validator:
    """Validator for a JSON Schema file under crds_dir(), of the draft its `$schema` names."""
    schema = json.loads((reference_root() / relative_path).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


# --- openAPIV3Schema -> JSON Schema ---------------------------------------------------------

_COPIED_KEYWORDS = (
    "enum",
    "required",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)


def to_jsonschema(node: dict[str, Any], *, root: bool = False) -> dict[str, Any]:
    """Convert a Kubernetes structural openAPIV3Schema (node) to JSON Schema.

    Kubernetes semantics kept: an object that lists `properties` (or none, nor
    `additionalProperties`) without `x-kubernetes-preserve-unknown-fields: true` rejects
    unknown fields; `x-kubernetes-int-or-string`; `x-kubernetes-embedded-resource` (apiVersion,
    kind and metadata required/checked); `nullable`; `listType: set` items are unique.
    `format` is left out: Kubernetes is tolerant of formats it does not know.

    Args:
        node: A schema node, e.g. a CRD version's `openAPIV3Schema`.
        root: The node is a resource's top level, whose `metadata` CRDs leave unspecified.

    Returns:
        An equivalent JSON Schema (Draft 2020-12).
    """
    out = _value_keywords(node)
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in node:
            out[keyword] = [to_jsonschema(sub) for sub in node[keyword]]
    if "not" in node:
        out["not"] = to_jsonschema(node["not"])
    if "items" in node:
        out["items"] = to_jsonschema(node["items"])
    if "properties" in node:
        out["properties"] = {k: to_jsonschema(v) for k, v in node["properties"].items()}
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = to_jsonschema(extra)
    elif extra is not None:
        out["additionalProperties"] = extra
    elif node.get("type") == "object" and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False  # Kubernetes would prune them; we report them
    if root or node.get("x-kubernetes-embedded-resource"):
        out.setdefault("properties", {})["metadata"] = metadata_schema()
    if node.get("x-kubernetes-embedded-resource"):
        out["properties"]["apiVersion"] = {"type": "string", "minLength": 1}
        out["properties"]["kind"] = {"type": "string", "minLength": 1}
        out["required"] = sorted({*out.get("required", ()), "apiVersion", "kind"})
    return out


def _value_keywords(node: dict[str, Any]) -> dict[str, Any]:
    """The keywords of a schema node that constrain the value itself (not its children)."""
    out: dict[str, Any] = {k: node[k] for k in _COPIED_KEYWORDS if k in node}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(bound) is True:  # an OpenAPI v3.0 boolean; a number in JSON Schema 2020-12
            out[bound] = out.pop(limit)
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    elif "type" in node:
        out["type"] = [node["type"]]
    if node.get("nullable") and "type" in out:
        out["type"] = [*out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    return out


def _schema_errors(
    validator: jsonschema.protocols.Validator, value: Any, where: str
) -> tuple[list[str], bool]:
    """Validate value; return errors as text, and whether one is a type or enum error."""
    errors: list[str] = []
    blocking = False
    for error in validator.iter_errors(value):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and error.validator_value is False:
            # additionalProperties: false fails only in an object schema, on an object.
            known = cast(Mapping[str, Any], error.schema).get("properties", {})
            errors += [
                f"{_location(where, [*path, key])}: unknown field"
                for key in cast(Mapping[str, Any], error.instance)
                if key not in known
            ]
            continue
        blocking = blocking or error.validator in ("type", "enum")
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        errors.append(f"{_location(where, path)}: {message}")
    return errors, blocking


# --- Defaults and CEL -----------------------------------------------------------------------


def _apply_defaults(node: dict[str, Any], value: Any) -> None:
    """Set schema `default`s for absent properties of present objects, in place, recursively."""
    if isinstance(value, dict):
        for key, prop in node.get("properties", {}).items():
            if key not in value and "default" in prop:
                value[key] = copy.deepcopy(prop["default"])
            if key in value:
                _apply_defaults(prop, value[key])
        if isinstance(node.get("additionalProperties"), dict):
            for item in value.values():
                _apply_defaults(node["additionalProperties"], item)
    elif isinstance(value, list) and "items" in node:
        for item in value:
            _apply_defaults(node["items"], item)


_TRANSITION_RULE = re.compile(r"\boldSelf\b")


def _rule_errors(
    node: dict[str, Any], value: Any, path: list[str | int], where: str
) -> Iterator[str]:
    """Evaluate the node's CEL rules against value (as `self`), then its children's.

    Also enforces `x-kubernetes-list-type: map` (no two items with the same keys), which,
    like CEL, needs the value rather than a JSON Schema keyword.
    """
    if value is None:
        return
    for rule in node.get("x-kubernetes-validations", ()):
        if _TRANSITION_RULE.search(rule["rule"]):
            continue  # needs the old object: only checked on updates
        failure = _evaluate(rule["rule"], value)
        if failure is not None:
            yield f"{_location(where, path)}: {rule.get('message') or rule['rule']}{failure}"
    if isinstance(value, dict):
        for key, prop in node.get("properties", {}).items():
            if key in value:
                yield from _rule_errors(prop, value[key], [*path, key], where)
        if isinstance(node.get("additionalProperties"), dict):
            for key, item in value.items():
                yield from _rule_errors(node["additionalProperties"], item, [*path, key], where)
    elif isinstance(value, list) and "items" in node:
        if node.get("x-kubernetes-list-type") == "map":
            yield from _duplicate_errors(node["x-kubernetes-list-map-keys"], value, path, where)
        for i, item in enumerate(value):
            yield from _rule_errors(node["items"], item, [*path, i], where)


def _duplicate_errors(
    keys: list[str], items: list[Any], path: list[str | int], where: str
) -> Iterator[str]:
    """Items of a `x-kubernetes-list-type: map` list must differ in their key fields."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = json.dumps([item.get(k) for k in keys]) if isinstance(item, dict) else None
        if key in seen:
            yield f"{_location(where, [*path, i])}: duplicate entry for keys {keys}"
        if key is not None:
            seen.add(key)


def _evaluate(rule: str, value: Any) -> str | None:
    """Run a CEL rule with `self` bound to value.

    Returns:
        None if it holds, "" if it is false, or " (CEL error: ...)" if it cannot be evaluated.
    """
    result: Any
    try:
        result = _program(rule).evaluate({"self": json_to_cel(value)})
    except (CELEvalError, CELParseError, TypeError, ValueError) as error:
        result = error
    if isinstance(result, celpy.celtypes.BoolType):
        return None if result else ""
    if isinstance(result, Exception):
        detail = " ".join(str(result.args[0] if result.args else result).split())
        return f" (CEL error: {detail})"
    return f" (CEL error: the rule returned {result!r}, not a bool)"


class _KubernetesEvaluator(Evaluator):
    """cel-python's evaluator, with cel-go's `has()`.

    In Kubernetes (cel-go) only the last field in `has(a.b.c)` may be absent: if `a.b` is
    absent, that is a "no such key" error. cel-python would answer false.
    """

    def macro_has_eval(self, exprlist: lark.Tree[Any]) -> Any:
        """Evaluate `has(e.f)`: an error if `e` is, else whether map `e` has key `f`."""
        node = exprlist
        while node.data != "member_dot" and len(node.children) == 1:
            if not isinstance(node.children[0], lark.Tree):
                break
            node = node.children[0]
        if node.data == "member_dot":
            operand = self.visit(node.children[0])
            if isinstance(operand, CELEvalError):
                return operand
            if isinstance(operand, celpy.celtypes.MapType):
                field = str(node.children[1])  # the IDENT token
                return celpy.celtypes.BoolType(field in operand)
        return super().macro_has_eval(exprlist)


class _KubernetesRunner(celpy.InterpretedRunner):
    """Runs compiled CEL with `_KubernetesEvaluator`."""

    def evaluate(self, context: Any) -> Any:
        """Evaluate the program in context (a dict of variable bindings)."""
        return _KubernetesEvaluator(ast=self.ast, activation=self.new_activation()).evaluate(
            context
        )


_CEL = celpy.Environment(runner_class=_KubernetesRunner)


@functools.cache
def _program(rule: str) -> celpy.Runner:
    """Compile a CEL rule once."""
    return _CEL.program(_CEL.compile(rule))


# --- Dispatcher -----------------------------------------------------------------------------


def validate(resource: dict[str, Any]) -> list[str]:
    """Validate a composed resource against the real schemas of its kind.

    Args:
        resource: A Kubernetes object as a dict (apiVersion, kind, metadata, spec, ...).

    Returns:
        Human-readable errors, each prefixed with the location of the problem; empty if valid.
    """
    return list(dict.fromkeys(_errors(resource, where="", wrapped=False)))


def assert_valid(resource: dict[str, Any]) -> None:
    """Assert that validate() finds no errors.

    Args:
        resource: A Kubernetes object as a dict.

    Raises:
        AssertionError: Listing every error, with the resource's kind and name.
    """
    errors = validate(resource)
    if errors:
        manifest = _get(resource, "spec", "forProvider", "manifest")
        what = _describe(resource)
        if resource.get("kind") == "Object" and isinstance(manifest, dict):
            what += f" (wrapping {_describe(manifest)})"
        raise AssertionError(f"{what} is invalid:\n  " + "\n  ".join(errors))


def crd_version(schema: dict[str, Any], *, cluster_scoped: bool) -> Crd:
    """A served CRD version made from a schema outside crds_dir(), e.g. a project XRD's.

    Args:
        schema: The version's openAPIV3Schema.
        cluster_scoped: Whether the kind is cluster-scoped.

    Returns:
        The Crd, for `validate_against`.
    """
    validator = jsonschema.Draft202012Validator(to_jsonschema(schema, root=True))
    return Crd(folder="", cluster_scoped=cluster_scoped, schema=schema, validator=validator)


def validate_against(resource: dict[str, Any], crd: Crd) -> list[str]:
    """Validate a resource against one given CRD version, as `validate` does against its own.

    Args:
        resource: A Kubernetes object as a dict.
        crd: The served version to check it with (see `crd_version`).

    Returns:
        Human-readable errors, each prefixed with the location of the problem; empty if valid.
    """
    return list(dict.fromkeys(_crd_errors(resource, crd, where="")))


def _errors(resource: Any, where: str, *, wrapped: bool) -> Iterator[str]:
    """Errors of a top-level resource, or of a manifest wrapped in an Object (at `where`)."""
    if not isinstance(resource, dict):
        yield f"{_location(where, [])}: expected an object, got {type(resource).__name__}"
        return
    api_version, kind = resource.get("apiVersion"), resource.get("kind")
    if wrapped and (api_version, kind) in WRAPPABLE_CORE_KINDS:
        yield from _core_errors(resource, where)
        return
    crd = _index().get((str(api_version), str(kind)))
    if crd is None or (wrapped and crd.folder not in WRAPPABLE_CRD_FOLDERS):
        wrapped_text = "wrapped " if wrapped else ""
        yield f"{_location(where, [])}: no schema for {wrapped_text}{api_version} {kind}"
        return
    yield from _crd_errors(resource, crd, where)
    if api_version in OBJECT_API_VERSIONS and kind == "Object":
        manifest = _get(resource, "spec", "forProvider", "manifest")
        if manifest is not None:
            yield from _errors(manifest, _join(where, "spec.forProvider.manifest"), wrapped=True)


def _crd_errors(resource: dict[str, Any], crd: Crd, where: str) -> Iterator[str]:
    """Defaults, then the schema, then (unless a type/enum error blocks them) CEL rules."""
    value = copy.deepcopy(resource)
    _apply_defaults(crd.schema, value)
    errors, blocking = _schema_errors(crd.validator, value, where)
    yield from errors
    if blocking:
        yield (
            f"{_location(where, [])}: some validation rules were not checked because the "
            "object was invalid; correct the existing errors to complete validation"
        )
    else:
        yield from _rule_errors(crd.schema, value, [], where)
    yield from _scope_errors(resource, crd.cluster_scoped, where)


def _core_errors(manifest: dict[str, Any], where: str) -> Iterator[str]:
    """A wrapped core kind: kubernetes-validate's strict schema, and Secret specifics."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    yield from _schema_errors(_core_validator(api_version, kind), manifest, where)[0]
    yield from _scope_errors(manifest, kind in CLUSTER_SCOPED_CORE_KINDS, where)
    if kind == "Secret":
        yield from _secret_errors(manifest, where)


def _scope_errors(resource: dict[str, Any], cluster_scoped: bool, where: str) -> Iterator[str]:
    """A namespace on a cluster-scoped kind is dropped by the API server: report it."""
    if cluster_scoped and _get(resource, "metadata", "namespace") is not None:
        yield f"{_join(where, 'metadata.namespace')}: set on a cluster-scoped kind"


def _secret_errors(secret: dict[str, Any], where: str) -> Iterator[str]:
    """Secret data must be base64; an Argo CD cluster Secret must also match Argo's schemas."""
    data = secret.get("data")
    if not isinstance(data, dict):
        data = {}  # a wrong type is a schema error already
    decoded: dict[str, str | None] = {}
    for key, raw in data.items():
        at = _location(where, ["data", key])
        if not SECRET_KEY.match(key):
            yield f"{at}: a Secret key must consist of alphanumerics, '-', '_' or '.'"
        try:
            decoded[key] = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, TypeError, ValueError):
            decoded[key] = None
            yield f"{at}: not valid base64 of UTF-8 text"
    labels = _get(secret, "metadata", "labels") or {}
    if isinstance(labels, dict) and labels.get(ARGOCD_SECRET_TYPE_LABEL) == "cluster":
        yield from _argocd_cluster_errors(secret, decoded, where)


def _argocd_cluster_errors(
    secret: dict[str, Any], decoded: dict[str, str | None], where: str
) -> Iterator[str]:
    """Argo CD cluster Secret: `data` only; decoded keys and `config` JSON match Argo's types."""
    if "stringData" in secret:
        yield (
            f"{_join(where, 'stringData')}: an Argo CD cluster Secret must use base64 `data`, "
            "not `stringData` (provider-kubernetes #420: observation fails on stringData "
            "under server-side apply)"
        )
    text = {key: value for key, value in decoded.items() if value is not None}
    data_where = _join(where, "data")
    yield from _schema_errors(
        _json_schema_validator("argocd/cluster-secret-data.schema.json"), text, data_where
    )[0]
    if "config" not in text:
        return
    config_where = _join(where, "data.config(json)")
    try:
        config = json.loads(text["config"])
    except json.JSONDecodeError as error:
        yield f"{config_where}: not JSON: {error}"
        return
    yield from _schema_errors(
        _json_schema_validator("argocd/cluster-secret-config.schema.json"), config, config_where
    )[0]


# --- Small helpers --------------------------------------------------------------------------


def _get(value: Any, *keys: str) -> Any:
    """value[k1][k2]..., or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _describe(resource: dict[str, Any]) -> str:
    """`<apiVersion> <kind> '<name>'` for messages."""
    name = _get(resource, "metadata", "name")
    return f"{resource.get('apiVersion')} {resource.get('kind')} {name!r}"


def _location(where: str, path: Iterable[str | int]) -> str:
    """JSON-path-like location: `spec.items[0].name`, `metadata.labels["a.io/b"]`."""
    out = where
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out = _join(out, part)
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(root)"


def _join(where: str, path: str) -> str:
    """Append a dotted path to a location."""
    return f"{where}.{path}" if where else path
