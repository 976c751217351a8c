"""Names of composed resources."""

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
