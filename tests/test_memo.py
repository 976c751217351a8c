"""What the runner reuses between calls never changes what it answers."""

import asyncio

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from function import fn
from function.fn import FunctionRunner
from function.reuse import RESPONSES_KEPT, Lru
from tests import factories as f


def call(runner: FunctionRunner, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    return asyncio.run(runner.RunFunction(req, None))


def tagged(req: fnv1.RunFunctionRequest, tag: str) -> fnv1.RunFunctionRequest:
    req.meta.tag = tag
    return req


def test_a_tagged_request_seen_before_gets_the_same_answer() -> None:
    runner = FunctionRunner()
    req = tagged(f.request(f.xr(), observed=["group.dev"]), "t1")
    first = call(runner, req)
    assert call(runner, req) is first
    second = call(runner, tagged(f.request(f.xr(), observed=["group.dev"]), "t2"))
    assert second is not first
    assert (second.meta.tag, second.desired) == ("t2", first.desired)


def test_untagged_requests_are_always_composed() -> None:
    runner = FunctionRunner()
    req = f.request(f.xr())
    assert call(runner, req) is not call(runner, req)


def test_a_new_tag_composes_the_new_state_with_the_same_spec() -> None:
    runner = FunctionRunner()
    call(runner, tagged(f.request(f.xr()), "before"))
    later = f.request(f.xr(), observed=["group.dev", "group.prod", "controlplane.dev.ctp1"])
    assert call(runner, tagged(later, "after")) == f.run(later) != f.run(f.request(f.xr()))


def test_a_changed_spec_is_parsed_again() -> None:
    runner = FunctionRunner()
    call(runner, f.request(f.xr()))
    renamed = f.request(f.xr(f.spec(organization="initech")))
    assert runner.run(renamed) == f.run(renamed)
    elsewhere = f.request(f.xr(namespace="team-b"))
    assert runner.run(elsewhere) == f.run(elsewhere)
    cluster_scoped = f.request(f.xr(namespace=None))
    assert runner.run(cluster_scoped) == f.run(cluster_scoped)
    invalid = f.request(f.xr(f.spec(organization="Not Valid")))
    assert [r.severity for r in runner.run(invalid).results] == [fnv1.SEVERITY_FATAL]


def test_an_internal_error_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compose(*_: object) -> None:
        raise RuntimeError

    monkeypatch.setattr(fn, "compose", broken_compose)
    runner = FunctionRunner()
    broken = tagged(f.request(f.xr()), "broken")
    first = call(runner, broken)
    assert "internal error" in first.results[0].message
    assert call(runner, broken) is not first


def test_the_memo_keeps_the_most_recently_used() -> None:
    memo: Lru[str, int] = Lru(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c"), len(memo)) == (1, None, 3, 2)
    assert RESPONSES_KEPT >= 1


def test_reused_structs_replace_keys_as_struct_update_does() -> None:
    runner = FunctionRunner()
    names = ["group.dev", "group.prod", "controlplane.dev.ctp1", "team.platform"]
    for tag in ("first", "second", "third"):
        req = tagged(f.request(f.xr(), observed=names), tag)
        if tag != "first":  # an earlier step desired it too, after the function kept it
            earlier = req.desired.resources["team.platform"].resource
            earlier.update({"kind": "Stale", "extra": {"kept": True}, "spec": {"stale": 1}})
        fresh = f.request(f.xr(), observed=names)
        fresh.desired.CopyFrom(req.desired)
        assert call(runner, req).desired == f.run(fresh).desired
