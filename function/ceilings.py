"""The two size ceilings of a call, stated by the function instead of hit as transport errors.

- What the function receives: its own `--max-recv-message-size`. Crossplane sends requests of
  any size (its function client sets no send limit), so the default, `DEFAULT_MAX_RECV_MIB`,
  fits the largest request of the largest environment the XRD accepts: the XR (at most
  etcd's 1.5 MiB) and the observed copies of what earlier responses (at most 4 MiB each)
  composed, about three times their size; twice that as headroom (docs/sharding.md).
- What Crossplane receives: its function client sets no receive limit either, so gRPC's
  default of 4 MiB holds. A response above it would fail the whole call with
  RESOURCE_EXHAUSTED; the function answers with one Fatal result instead that says which
  limit, by how much, and how to shard (`over_crossplane_limit`).
"""

from __future__ import annotations

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import response

from function.resolve import GROUP_KIND, Environment

MIB = 1024 * 1024
# gRPC's default max receive message size, which Crossplane's function client keeps
# (crossplane/crossplane internal/xfn/function_runner.go: grpc.NewClient without
# grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(...))).
CROSSPLANE_RECEIVE_LIMIT = 4 * MIB
# The function's default --max-recv-message-size, in MiB (the SDK's flag counts MiB).
DEFAULT_MAX_RECV_MIB = 32


def over_crossplane_limit(
    req: fnv1.RunFunctionRequest, rsp: fnv1.RunFunctionResponse, env: Environment, sharded: bool
) -> fnv1.RunFunctionResponse | None:
    """A Fatal response in place of `rsp` if Crossplane would refuse `rsp`, else None.

    Nothing is lost by the Fatal: Crossplane applies no desired state from a Fatal result,
    so it deletes nothing either.
    """
    size = rsp.ByteSize()
    if size <= CROSSPLANE_RECEIVE_LIMIT:
        return None
    fatal = response.to(req)
    fatal.desired.ClearField("resources")
    over = size - CROSSPLANE_RECEIVE_LIMIT
    response.fatal(
        fatal,
        f"the response would be {size} bytes, {over} bytes ({over / MIB:.2f} MiB) over the "
        f"{CROSSPLANE_RECEIVE_LIMIT} bytes (4 MiB) Crossplane accepts from a function (its "
        "gRPC client keeps gRPC's default receive limit); nothing was changed. "
        + _how_to_shard(env, sharded),
    )
    return fatal


def _how_to_shard(env: Environment, sharded: bool) -> str:
    """What makes the calls of this XR smaller."""
    if env.xr_kind == GROUP_KIND:
        return "Move some of the group's control planes into another group."
    if not sharded:
        return (
            "Shard it: set spec.sharding: Enabled (Auto shards above 500 control planes), so "
            "that each group is composed by a ControlPlaneGroup of its own (docs/sharding.md)."
        )
    return (
        "It is sharded already, and its ControlPlaneGroups, IAM and status alone are too "
        "large: split it across several UpboundEnvironments."
    )
