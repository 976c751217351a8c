"""Names of composed resources."""

import hashlib
import re

from hypothesis import given
from hypothesis import strategies as st

from function.naming import metadata_name, resource_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def test_names_are_readable_and_stable() -> None:
    assert resource_name("controlplane", "dev", "ctp1") == "controlplane.dev.ctp1"
    name = metadata_name("acme", "controlplane.dev.ctp1")
    assert name.startswith("acme-controlplane-dev-ctp1-")
    assert name == metadata_name("acme", "controlplane.dev.ctp1")


def test_pairs_that_join_alike_get_different_names() -> None:
    a = metadata_name("acme", resource_name("controlplane", "dev-a", "b"))
    b = metadata_name("acme", resource_name("controlplane", "dev", "a-b"))
    assert a != b


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_metadata_names_are_always_dns_labels(xr_name: str, name: str) -> None:
    assert DNS_LABEL.match(metadata_name(xr_name, name))


def _before_issue_9(xr_name: str, composition_resource_name: str) -> str:
    """metadata_name as it was: the reference for names that must not change."""
    readable = re.sub(r"[^a-z0-9-]+", "-", f"{xr_name}-{composition_resource_name}".lower())
    digest = hashlib.sha256(f"{xr_name}/{composition_resource_name}".encode()).hexdigest()
    prefix = readable[:57].strip("-")
    return f"{prefix}-{digest[:5]}" if prefix else digest[:5]


label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z").filter(lambda s: len(s) <= 63)
# Long entries that share a long beginning: the names the old scheme cut to the same prefix.
shared = st.sampled_from(["preview-environment-for-pr-", "a" * 40 + "-", ""])
long_label = st.builds(lambda p, s: (p + s)[:63].strip("-") or "x", shared, label)
kinds = st.sampled_from(["group", "controlplane", "argocd-cluster", "robot-membership"])
composition_names = st.builds(
    lambda kind, parts: resource_name(kind, *parts),
    kinds,
    st.lists(long_label, min_size=1, max_size=2),
)
xr_names = st.sampled_from(["acme", "acme-prod", "a" * 60, "acme.prod"])


@given(st.lists(st.tuples(xr_names, composition_names), min_size=2, max_size=40, unique=True))
def test_different_resources_get_different_names(pairs: list[tuple[str, str]]) -> None:
    names = [metadata_name(xr, name) for xr, name in pairs]
    assert len(set(names)) == len(names)


@given(xr_names, composition_names)
def test_names_that_fit_keep_their_old_form_and_longer_ones_a_long_digest(
    xr_name: str, name: str
) -> None:
    new = metadata_name(xr_name, name)
    assert DNS_LABEL.match(new)
    readable = re.sub(r"[^a-z0-9-]+", "-", f"{xr_name}-{name}".lower())
    if len(readable) <= 57:
        assert new == _before_issue_9(xr_name, name), "an existing short name never changes"
        assert len(new) == 5 or new[-6] == "-"
    else:
        assert re.fullmatch(r"[a-z2-7]{26}", new[-26:]), "130 bits, no '-' in the last 26"
        assert len(new) >= 26 and (len(new) == 26 or new[-27] == "-")


def test_the_issues_pair_gets_two_names() -> None:
    a = metadata_name("acme-prod", "controlplane.team-a.preview-environment-for-pr-202")
    b = metadata_name("acme-prod", "controlplane.team-a.preview-environment-for-pr-511")
    assert a != b
    assert _before_issue_9("acme-prod", "controlplane.team-a.preview-environment-for-pr-202") == (
        _before_issue_9("acme-prod", "controlplane.team-a.preview-environment-for-pr-511")
    )
