"""Render an XR through its Composition's function pipeline, the way `crossplane render` does.

A small re-implementation of the composition-function part of `crossplane render`
(crossplane/crossplane cmd/crank/render), for machines without the crossplane CLI:

    python -m hack.render xr.yaml composition.yaml functions.yaml \
        [-o observed.yaml] [-e required.yaml] [-r] [-x] [--start-function]

Functions must use the Development runtime (annotation `render.crossplane.io/runtime:
Development`): the renderer connects to `render.crossplane.io/runtime-development-target`
(default localhost:9443). With --start-function it starts the function itself when nothing
listens there. Used as a library, see `render`, `running_function` and `load_yaml_documents`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import grpc
import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from crossplane.function.resource import dict_to_struct, struct_to_dict

RESOURCE_NAME = "crossplane.io/composition-resource-name"
COMPOSITE_LABEL = "crossplane.io/composite"
RUNTIME = "render.crossplane.io/runtime"
DEVELOPMENT_TARGET = "render.crossplane.io/runtime-development-target"
DEFAULT_TARGET = "localhost:9443"
FUNCTION_API_VERSIONS = {"pkg.crossplane.io/v1", "pkg.crossplane.io/v1beta1"}
MAX_REQUIREMENTS_ITERATIONS = 5
START_COMMAND = (sys.executable, "-m", "function.main", "--insecure")
ROOT = Path(__file__).resolve().parents[1]
CONDITION_TIME = "2024-01-01T00:00:00Z"  # render's fixed lastTransitionTime
SYSTEM_CONDITIONS = {"Ready", "Synced", "Healthy"}  # functions may not set these on the XR
# The SDK's stubs say EnumTypeWrapper.values() gives ints; they are the Capability values.
CAPABILITIES = cast(
    list[fnv1.Capability],
    [c for c in fnv1.Capability.values() if c != fnv1.CAPABILITY_UNSPECIFIED],
)
STATUS = {fnv1.STATUS_CONDITION_TRUE: "True", fnv1.STATUS_CONDITION_FALSE: "False"}


class RenderError(Exception):
    """Bad inputs, an unreachable function, or requirements that never stabilise."""


@dataclass
class RenderResult:
    """What a render produced.

    Attributes:
        xr: The desired composite merged onto the input XR, with status and conditions.
        composed: Desired composed resources as `crossplane render` prints them, by name.
        results: Non-fatal results as render.crossplane.io/v1beta1 Result objects (step,
            severity such as "SEVERITY_NORMAL", message); on a fatal result, it comes last.
        conditions: Conditions the functions returned (type, status, reason, message).
        requests: Every RunFunctionRequest sent, in order.
        responses: Every RunFunctionResponse received, in order.
        fatal: The message of the fatal result that stopped the pipeline, if any.
        ttl_seconds: The shortest response TTL among the pipeline steps, if any set one.
        desired_xr: The XR exactly as `crossplane render` prints it (without -x).
    """

    xr: dict[str, Any] = field(default_factory=dict)
    composed: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[fnv1.RunFunctionRequest] = field(default_factory=list)
    responses: list[fnv1.RunFunctionResponse] = field(default_factory=list)
    fatal: str | None = None
    ttl_seconds: float | None = None
    desired_xr: dict[str, Any] = field(default_factory=dict)


def load_yaml_documents(path: str | Path) -> list[dict[str, Any]]:
    """Load every YAML document in a file, or in a directory's *.yaml and *.yml files.

    Args:
        path: A file, or a directory whose YAML files are read in name order (not recursively).

    Returns:
        The non-empty documents, in order.

    Raises:
        RenderError: A directory holds no YAML file.
    """
    path = Path(path)
    files = [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in {".yaml", ".yml"})
        if not files:
            raise RenderError(f"no YAML files found in {str(path)!r} (.yaml or .yml)")
    return [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]


def _meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _plain(value: Any) -> Any:
    """Undo protobuf Struct's float-for-every-number, as Go's JSON round trip does."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _fetch(selector: fnv1.ResourceSelector, resources: Sequence[dict[str, Any]]) -> fnv1.Resources:
    """Render's FilteringFetcher: resources of the selector's kind, by name or labels.

    Unlike render (but like a real cluster), a namespace in the selector must match too.
    """
    out = fnv1.Resources()
    for res in sorted(resources, key=lambda r: str(_meta(r).get("name", ""))):
        meta = _meta(res)
        if (res.get("apiVersion"), res.get("kind")) != (selector.api_version, selector.kind):
            continue
        if selector.namespace and meta.get("namespace", "") != selector.namespace:
            continue
        if selector.WhichOneof("match") == "match_name":
            if meta.get("name") == selector.match_name:
                return fnv1.Resources(items=[fnv1.Resource(resource=dict_to_struct(res))])
        elif all(
            (meta.get("labels") or {}).get(k) == v for k, v in selector.match_labels.labels.items()
        ):
            out.items.add(resource=dict_to_struct(res))
    return out


def _credentials(
    step: Mapping[str, Any], secrets: Sequence[dict[str, Any]]
) -> dict[str, fnv1.Credentials]:
    """Resolve a step's Secret credentials against the --function-credentials Secrets."""
    out = {}
    for cred in step.get("credentials") or []:
        ref = cred.get("secretRef")
        if cred.get("source") != "Secret" or not ref:
            continue
        found = [s for s in secrets if _meta(s).get("name") == ref.get("name")]
        found = [s for s in found if _meta(s).get("namespace") == ref.get("namespace")]
        if not found:
            raise RenderError(f"cannot get credentials from secret {ref.get('name')!r}: not found")
        secret = found[0]
        data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        out[cred["name"]] = fnv1.Credentials(credential_data=fnv1.CredentialData(data=data))
    return out


def _targets(functions: Sequence[dict[str, Any]], overrides: Mapping[str, str]) -> dict[str, str]:
    """Where each Function listens: an override, or its Development runtime target."""
    targets = {}
    for fn in functions:
        name, annotations = _meta(fn).get("name", ""), _meta(fn).get("annotations") or {}
        if fn.get("kind") != "Function" or fn.get("apiVersion") not in FUNCTION_API_VERSIONS:
            raise RenderError(f"not a function: {fn.get('kind')}/{name}")
        runtime = annotations.get(RUNTIME, "Docker") or "Docker"
        if name in overrides:
            targets[name] = overrides[name]
        elif runtime == "Development":
            targets[name] = annotations.get(DEVELOPMENT_TARGET) or DEFAULT_TARGET
        elif runtime == "Docker":
            raise RenderError(f"Function {name!r}: no Docker here; use {RUNTIME}: Development")
        else:
            raise RenderError(f"unsupported {RUNTIME!r} annotation value {runtime!r}")
    return targets


def _validate(xr: Mapping[str, Any], composition: Mapping[str, Any]) -> None:
    """The checks `crossplane render` makes before it runs anything."""
    if composition.get("kind") != "Composition":
        raise RenderError(f"not a composition: {composition.get('kind')}")
    spec = composition.get("spec") or {}
    for key in ("kind", "apiVersion"):
        want, got = (spec.get("compositeTypeRef") or {}).get(key), xr.get(key)
        if want != got:
            raise RenderError(f"composition's compositeTypeRef.{key} ({want}) != XR's ({got})")
    if spec.get("mode", "Pipeline") != "Pipeline":
        raise RenderError("render only supports Composition Function pipelines (mode: Pipeline)")


def _run_step(
    stub: grpcv1.FunctionRunnerServiceStub,
    req: fnv1.RunFunctionRequest,
    required: Sequence[dict[str, Any]],
    timeout: float,
    out: RenderResult,
) -> fnv1.RunFunctionResponse:
    """Call a function until its requirements stop changing, like FetchingFunctionRunner."""
    requirements: fnv1.Requirements | None = None
    for _ in range(MAX_REQUIREMENTS_ITERATIONS + 1):
        sent = fnv1.RunFunctionRequest()
        sent.CopyFrom(req)
        out.requests.append(sent)
        rsp: fnv1.RunFunctionResponse = stub.RunFunction(sent, timeout=timeout)
        out.responses.append(rsp)
        if any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
            return rsp
        new = rsp.requirements if rsp.HasField("requirements") else None
        if new == requirements:
            return rsp
        requirements = new
        # Requirements gone after some: fetch nothing and call again (no None to read).
        wanted = new if new is not None else fnv1.Requirements()
        req.ClearField("extra_resources")
        req.ClearField("required_resources")
        for name, selector in wanted.extra_resources.items():  # deprecated, still honoured
            req.extra_resources[name].CopyFrom(_fetch(selector, required))
        for name, selector in wanted.resources.items():
            req.required_resources[name].CopyFrom(_fetch(selector, required))
        req.ClearField("context")
        if rsp.HasField("context"):
            req.context.CopyFrom(rsp.context)
    raise RenderError(
        "requirements didn't stabilize after the maximum number of iterations "
        f"({MAX_REQUIREMENTS_ITERATIONS})"
    )


def _set_condition(obj: dict[str, Any], condition: dict[str, Any]) -> None:
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    conditions[:] = [c for c in conditions if c.get("type") != condition["type"]] + [condition]


def _condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    c = {"type": type_, "status": status, "reason": reason, "lastTransitionTime": CONDITION_TIME}
    return c | ({"message": message} if message else {})


def _composed(
    state: fnv1.State, xr: Mapping[str, Any], observed: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Desired composed resources with the metadata render derives from the XR."""
    prefix = (_meta(xr).get("labels") or {}).get(COMPOSITE_LABEL) or _meta(xr).get("name", "")
    out = []
    for name, desired in sorted(state.resources.items()):
        cd = _plain(struct_to_dict(desired.resource))
        meta = cd.setdefault("metadata", {})
        if name in observed:  # keep an existing resource's identity
            for key in ("namespace", "name", "generateName"):
                meta.pop(key, None)
                if _meta(observed[name]).get(key):
                    meta[key] = _meta(observed[name])[key]
        if not meta.get("name") and not meta.get("generateName"):
            meta["generateName"] = f"{prefix}-"
        if _meta(xr).get("namespace"):
            meta["namespace"] = _meta(xr)["namespace"]
        meta.setdefault("annotations", {})[RESOURCE_NAME] = name
        meta.setdefault("labels", {})[COMPOSITE_LABEL] = prefix
        owner = {"apiVersion": xr["apiVersion"], "kind": xr["kind"], "name": _meta(xr).get("name")}
        owner |= {"uid": _meta(xr).get("uid", ""), "controller": True, "blockOwnerDeletion": True}
        meta["ownerReferences"] = [owner]
        out.append(cd)
    return out


def render(  # noqa: PLR0913 - mirrors crossplane render's inputs
    xr: dict[str, Any],
    composition: dict[str, Any],
    functions: list[dict[str, Any]],
    *,
    observed: Sequence[dict[str, Any]] = (),
    required: Sequence[dict[str, Any]] = (),
    credentials: Sequence[dict[str, Any]] = (),
    observed_connection_details: dict[str, dict[str, bytes]] | None = None,
    address_override: dict[str, str] | None = None,
    timeout: float = 10,
    context: Mapping[str, Any] | None = None,
) -> RenderResult:
    """Run the Composition's pipeline against running functions, as `crossplane render` does.

    Args:
        xr: The composite resource.
        composition: A Composition in Pipeline mode, for the XR's apiVersion and kind.
        functions: Function objects; each must use the Development runtime or be overridden.
        observed: Observed composed resources, keyed by their composition-resource-name.
        required: Resources that functions' requirements (and deprecated extra resources)
            may select, by apiVersion, kind, namespace and name or labels.
        credentials: Secrets that pipeline steps' `credentials` refer to.
        observed_connection_details: Connection details per composition-resource-name,
            to emulate a real Crossplane (crossplane render sends none).
        address_override: Function name -> "host:port" to call instead of its annotations.
        timeout: Seconds each RunFunction call may take.
        context: Initial pipeline context (what --context-values sets).

    Returns:
        The render's result; `fatal` is set (and xr and composed empty) on a Fatal result.

    Raises:
        RenderError: Bad inputs, a failed call, or requirements that never stabilise.
    """
    _validate(xr, composition)
    targets = _targets(functions, address_override or {})
    by_name = {(_meta(o).get("annotations") or {}).get(RESOURCE_NAME, ""): o for o in observed}
    details = observed_connection_details or {}
    obs = fnv1.State(composite=fnv1.Resource(resource=dict_to_struct(xr)))
    for name, resource in by_name.items():
        obs.resources[name].resource.CopyFrom(dict_to_struct(resource))
        obs.resources[name].connection_details.update(details.get(name, {}))

    out = RenderResult()
    desired: fnv1.State | None = fnv1.State()  # the pipeline starts with empty desired state
    fctx: Any = dict_to_struct(dict(context or {}))
    channels: dict[str, grpc.Channel] = {}
    try:
        for step in composition["spec"].get("pipeline") or []:
            fn = step["functionRef"]["name"]
            if fn not in targets:
                raise RenderError(f"unknown Function {fn!r} - is it in your Functions file?")
            req = fnv1.RunFunctionRequest(
                meta=fnv1.RequestMeta(capabilities=CAPABILITIES),
                observed=obs,
                desired=desired,
                context=fctx,
                credentials=_credentials(step, credentials),
                input=dict_to_struct(step["input"]) if step.get("input") is not None else None,
            )
            if fn not in channels:
                channels[fn] = grpc.insecure_channel(targets[fn])
            stub = grpcv1.FunctionRunnerServiceStub(channels[fn])
            try:
                rsp = _run_step(stub, req, required, timeout, out)
            except grpc.RpcError as e:
                raise RenderError(
                    f'cannot run pipeline step "{step["step"]}": {e.code().name}: {e.details()} '
                    f"(is Function {fn!r} serving at {targets[fn]}? Try --start-function)"
                ) from e
            desired = rsp.desired if rsp.HasField("desired") else None
            fctx = rsp.context if rsp.HasField("context") else None
            if _record(rsp, step["step"], out):
                return out
    finally:
        for channel in channels.values():
            channel.close()

    state = desired or fnv1.State()
    out.composed = _composed(state, xr, by_name)
    out.desired_xr = _xr_view(state, xr, out.conditions)
    out.xr = _merge(copy.deepcopy(xr), out.desired_xr)
    return out


def _record(rsp: fnv1.RunFunctionResponse, step: str, out: RenderResult) -> bool:
    """Collect a step's TTL, conditions and results; True if a result was Fatal."""
    if rsp.meta.HasField("ttl"):
        ttl = rsp.meta.ttl.seconds + rsp.meta.ttl.nanos / 1e9
        out.ttl_seconds = ttl if out.ttl_seconds is None else min(out.ttl_seconds, ttl)
    for c in rsp.conditions:
        status = STATUS.get(c.status, "Unknown")
        out.conditions.append(_condition(c.type, status, c.reason, c.message))
    for r in rsp.results:
        severity = fnv1.Severity.Name(r.severity)
        out.results.append(
            {"apiVersion": "render.crossplane.io/v1beta1", "kind": "Result", "step": step}
            | {"severity": severity, "message": r.message}
        )
        if r.severity == fnv1.SEVERITY_FATAL:
            out.fatal = r.message
            return True
    return False


def _xr_view(
    state: fnv1.State, xr: Mapping[str, Any], conditions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The desired XR as render prints it: identity, desired status and a Ready condition."""
    view: dict[str, Any] = _plain(struct_to_dict(state.composite.resource))
    view |= {"apiVersion": xr["apiVersion"], "kind": xr["kind"]}
    view["metadata"] = {k: v for k, v in (view.get("metadata") or {}).items() if k != "namespace"}
    view["metadata"] |= {k: _meta(xr)[k] for k in ("name", "namespace") if _meta(xr).get(k)}
    unready = sorted(n for n, r in state.resources.items() if r.ready != fnv1.READY_TRUE)
    ready = _condition("Ready", "True", "Available")
    if state.composite.ready == fnv1.READY_FALSE:
        ready = _condition("Ready", "False", "Creating")
    elif state.composite.ready == fnv1.READY_UNSPECIFIED and unready:
        ready = _condition("Ready", "False", "Creating", f"Unready resources: {_some(unready)}")
    for condition in [ready, *(c for c in conditions if c["type"] not in SYSTEM_CONDITIONS)]:
        _set_condition(view, condition)
    return view


def _some(names: list[str], n: int = 3) -> str:
    """crossplane-runtime's StableNAndSomeMore (names already sorted)."""
    if len(names) > n:
        return f"{', '.join(names[:n])}, and {len(names) - n} more"
    if len(names) == n:
        return f"{', '.join(names[: n - 1])}, and {names[-1]}"
    return ", ".join(names)


def _listening(target: str) -> bool:
    """Whether something accepts TCP connections at a gRPC target such as localhost:9443."""
    host, _, port = target.removeprefix("dns:///").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_serving(
    proc: subprocess.Popen[bytes], address: str, log: IO[bytes], limit: float
) -> None:
    """Poll until the server answers a gRPC call; any answer, even UNIMPLEMENTED, will do."""
    deadline = time.monotonic() + limit
    with grpc.insecure_channel(address) as channel:
        probe: grpc.UnaryUnaryMultiCallable[bytes, bytes]
        probe = channel.unary_unary("/grpc.health.v1.Health/Check")
        while True:
            if proc.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise RenderError(f"the function exited with code {proc.returncode}:\n{output}")
            try:
                probe(b"", timeout=0.5)
                return
            except grpc.RpcError as e:
                if e.code() not in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}:
                    return
            if time.monotonic() > deadline:
                raise RenderError(f"the function did not serve at {address} within {limit:g}s")
            time.sleep(0.1)


@contextlib.contextmanager
def running_function(
    address: str | None = None,
    command: Sequence[str] | None = START_COMMAND,
    *,
    startup_timeout: float = 15,
) -> Iterator[str]:
    """Yield the address of a running function, starting one if nothing listens at `address`.

    A started function runs `command` plus `--address 127.0.0.1:<free port>` from the
    project root, logs to a temporary file, and is stopped (SIGTERM, then SIGKILL) on exit.

    Args:
        address: A gRPC target to use if something already listens there.
        command: The command that serves the function; None to never start one.
        startup_timeout: Seconds to wait for a started function to answer.

    Yields:
        The "host:port" to call the function at.

    Raises:
        RenderError: Nothing listens and no command was given, or the function failed to start.
    """
    if address and _listening(address):
        yield address
        return
    if command is None:
        raise RenderError(f"nothing listens at {address} (start the function, or --start-function)")
    address = f"127.0.0.1:{_free_port()}"
    with tempfile.TemporaryFile() as log:
        args = [*command, "--address", address]
        proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(proc, address, log, startup_timeout)
            yield address
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hack.render", description=__doc__.split("\n")[0])
    p.add_argument("composite_resource", help="A YAML file specifying the XR to render.")
    p.add_argument("composition", help="A YAML file specifying the Composition (mode: Pipeline).")
    p.add_argument("functions", help="A YAML file or directory of YAML files of Functions.")
    p.add_argument(
        "-o", "--observed-resources", metavar="PATH", help="Observed composed resources."
    )
    p.add_argument(
        "-e", "--required-resources", "--extra-resources", metavar="PATH", action="append",
        default=[], help="Resources that functions may require (--extra-resources: deprecated).",
    )  # fmt: skip
    p.add_argument("--function-credentials", metavar="PATH", help="Secrets for step credentials.")
    p.add_argument("-r", "--include-function-results", action="store_true", help="Print results.")
    p.add_argument(
        "-x", "--include-full-xr", action="store_true", help="Print the XR's spec and metadata."
    )
    p.add_argument("--timeout", type=float, default=60, help="Seconds per function call.")
    p.add_argument(
        "--start-function", action="store_true",
        help="Start Development-runtime functions (python -m function.main) if nothing listens.",
    )  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    """Render like `crossplane render`: a YAML stream on stdout, or an error and exit code 1."""
    args = _parser().parse_args(argv)
    try:
        xr = load_yaml_documents(args.composite_resource)[0]
        composition = load_yaml_documents(args.composition)[0]
        functions = load_yaml_documents(args.functions)

        def load(path: str | None) -> list[dict[str, Any]]:
            return load_yaml_documents(path) if path else []

        with contextlib.ExitStack() as stack:
            overrides = {}
            for fn in functions if args.start_function else []:
                annotations = _meta(fn).get("annotations") or {}
                if annotations.get(RUNTIME) == "Development":
                    target = annotations.get(DEVELOPMENT_TARGET) or DEFAULT_TARGET
                    overrides[_meta(fn)["name"]] = stack.enter_context(running_function(target))
            result = render(
                xr,
                composition,
                functions,
                observed=load(args.observed_resources),
                required=[doc for path in args.required_resources for doc in load(path)],
                credentials=load(args.function_credentials),
                address_override=overrides,
                timeout=args.timeout,
            )
    except (RenderError, OSError, yaml.YAMLError, KeyError, IndexError) as e:
        print(f"crossplane: error: cannot render composite resource: {e}", file=sys.stderr)
        return 1
    if result.fatal is not None:
        step = result.results[-1]["step"]
        print(
            f'crossplane: error: cannot render composite resource: pipeline step "{step}" '
            f"returned a fatal result: {result.fatal}",
            file=sys.stderr,
        )
        return 1
    view = result.desired_xr
    if args.include_full_xr:
        view |= {k: copy.deepcopy(xr[k]) for k in ("metadata", "spec") if k in xr}
    docs = [view, *result.composed, *(result.results if args.include_function_results else [])]
    yaml.safe_dump_all(docs, sys.stdout, explicit_start=True, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
