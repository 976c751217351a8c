"""What the runner reuses between calls never changes what it answers."""

import asyncio
import hashlib
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function import fn
from function.fn import FunctionRunner
from function.observed import Observed, confirms, evidence
from function.reuse import RESPONSES_KEPT, Lru
from tests import factories as f
from tests.world import World


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
    desired = fnv1.State()
    desired.CopyFrom(first.desired)
    second = call(runner, tagged(f.request(f.xr(), observed=["group.dev"]), "t2"))
    assert (second.meta.tag, second.desired) == ("t2", desired)


def test_untagged_requests_are_answered_from_what_they_observe() -> None:
    runner = FunctionRunner()
    before = f.request(f.xr())
    later = f.request(f.xr(), observed=["group.dev", "group.prod"])
    for req in (before, later, before):
        assert call(runner, req) == f.run(req)


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


def test_the_memo_keeps_no_more_than_its_budget_but_always_the_latest() -> None:
    memo: Lru[str, int] = Lru(10, budget=100)
    memo.put("a", 1, weight=60)
    memo.put("b", 2, weight=30)
    memo.put("a", 3, weight=50)  # replaced: its old weight no longer counts
    assert (memo.get("a"), memo.get("b"), len(memo)) == (3, 2, 2)
    memo.put("c", 4, weight=40)  # 120 > 100: the least recently used ("a") goes
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, 2, 4)
    memo.put("huge", 5, weight=1000)  # over the budget alone, kept alone
    assert (memo.get("huge"), len(memo)) == (5, 1)


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


def settled(xr_: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, fnv1.Resource]]:
    """An XR and the observed state in which everything it composes exists and is ready."""
    xr_ = xr_ or f.xr()
    return xr_, f.settle(xr_)[1]


def with_status_change(
    observed: dict[str, fnv1.Resource], name: str, **status: Any
) -> dict[str, fnv1.Resource]:
    """The observed state with one resource's status (and resourceVersion) moved on."""
    changed = dict(observed)
    body = resource.struct_to_dict(observed[name].resource)
    body.setdefault("metadata", {})["resourceVersion"] = "4712"
    body["status"] = {**body.get("status", {}), **status}
    changed[name] = fnv1.Resource(
        resource=resource.dict_to_struct(body), connection_details=observed[name].connection_details
    )
    return changed


def test_a_change_nothing_composed_reads_answers_as_before_with_the_new_tag() -> None:
    runner = FunctionRunner()
    xr_, observed = settled()
    first = call(runner, tagged(f.request(xr_, observed=observed), "t1"))
    name = next(n for n in observed if n.startswith("controlplane."))
    later = tagged(f.request(xr_, observed=with_status_change(observed, name, atProvider={})), "t2")
    again = call(runner, later)
    assert again is first  # answered without composing
    assert again.meta.tag == "t2"
    assert runner.run(later) == f.run(later)


@pytest.mark.parametrize("ready", [False, True])
def test_a_change_a_composition_reads_composes_again(ready: bool) -> None:
    runner = FunctionRunner()
    xr_, observed = settled()
    call(runner, tagged(f.request(xr_, observed=observed), "t1"))
    name = next(n for n in observed if n.startswith("controlplane."))
    conditions = [{"type": "Ready", "status": str(ready)}]
    changed = with_status_change(observed, name, conditions=conditions)
    for i, state in enumerate((changed, observed, changed)):
        req = tagged(f.request(xr_, observed=state), f"t{i + 2}")
        assert call(runner, req) == f.run(req)


def test_a_change_outside_the_observed_state_composes_again() -> None:
    runner = FunctionRunner()
    xr_, observed = settled()
    call(runner, tagged(f.request(xr_, observed=observed), "t1"))
    other_token = {**f.TOKEN_SECRET, "data": {"token": "b3RoZXI="}}
    req = tagged(f.request(xr_, observed=observed, token_secret=other_token), "t2")
    assert call(runner, req) == f.run(req)
    earlier_step = tagged(f.request(xr_, observed=observed), "t3")
    earlier_step.desired.resources["extra"].resource.update({"kind": "ConfigMap"})
    assert call(runner, earlier_step) == f.run(earlier_step)
    assert "extra" in call(runner, earlier_step).desired.resources


def test_a_resource_that_goes_away_composes_again() -> None:
    runner = FunctionRunner()
    xr_, observed = settled()
    call(runner, tagged(f.request(xr_, observed=observed), "t1"))
    name = next(n for n in observed if n.startswith("group."))
    fewer = {n: r for n, r in observed.items() if n != name}
    req = tagged(f.request(xr_, observed=fewer), "t2")
    assert call(runner, req) == f.run(req)


def test_every_query_of_the_observed_state_is_a_recorded_fact() -> None:
    public = {n for n, v in vars(Observed).items() if not n.startswith("_") and callable(v)}
    assert public - {"without"} == set(Observed._queries)  # a view is not a query
    _, observed = settled()
    view = Observed(observed)
    name = next(n for n in observed if n.startswith("group."))
    copy_ = view.as_desired(name)
    copy_["metadata"]["annotations"] = {"changed": "by a builder"}
    assert view.as_desired(name) != copy_  # each caller gets its own
    groups = sorted(n for n in observed if n.startswith("group."))
    assert list(view.names("group")) == groups
    assert list(view.names("group")) == groups  # an iterator again, from the recorded answer
    assert view.ready(name)
    without_first = view.without(lambda n: n == groups[0])
    assert not without_first.exists(groups[0])
    assert set(view.facts) == {
        ("as_desired", (name,), (), ()),
        ("malformed", (name,), (), ()),  # as_desired asks it
        ("names", ("group",), (), ()),
        ("ready", (name,), (), ()),
        ("all_names", (), (), ()),
        ("exists", (groups[0],), (), (groups[0],)),
    }
    assert confirms(Observed(observed), evidence(view))
    assert not confirms(Observed({}), evidence(view))


def with_versions(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionRequest:
    """The request with a resourceVersion on every observed resource, as the API server sets
    it: the same for the same content, another for any other."""
    for composed in req.observed.resources.values():
        content = composed.SerializeToString(deterministic=True)
        version = hashlib.sha256(content).hexdigest()[:12]
        metadata = composed.resource.fields["metadata"].struct_value
        metadata.fields["resourceVersion"].string_value = version
    return req


@pytest.mark.parametrize("versions", [False, True], ids=["unversioned", "versioned"])
def test_one_runner_answers_a_move_to_and_from_groups_as_a_fresh_one_does(versions: bool) -> None:
    """Every call of a move (unsharded -> sharded -> unsharded, views of the observed state
    without the moving groups) answered by one long-lived runner, as a fresh one answers it."""
    runner = FunctionRunner()
    calls = 0
    answered: list[int] = []  # ids of the answers: a kept one comes again

    def call(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        nonlocal calls
        req = with_versions(req) if versions else req
        req.meta.tag = f"call-{calls}"
        calls += 1
        answer = asyncio.run(runner.RunFunction(req, None))
        assert answer == f.run(req)
        answered.append(id(answer))
        return answer

    spec = f.spec()
    world = World(f.xr({**spec, "sharding": "Disabled"}), call=call)
    world.converge()
    for sharding in ("Enabled", "Disabled"):
        world.edit({**spec, "sharding": sharding})
        world.converge()
        world.round()  # settled: every XR's call again, now answered as before
    assert world.deleted == [] and world.conflicts == []
    assert len(set(answered)) < len(answered), "some calls were answered as before"
