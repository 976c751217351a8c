"""Every composed resource validates against the real CRDs, in every space type and flavour."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories as f
from tests.schemas import assert_valid


def disconnected_ready(xr: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run a Disconnected environment to the end, the kubeconfigs coming back as details."""
    rsp = f.run(f.request(xr, supply_token=False))
    for _ in range(4):
        observed = {
            n: f.observed_resource(
                n,
                xr_name=xr["metadata"]["name"],
                connection_details={"kubeconfig": f.kubeconfig()}
                if n.startswith("controlplane.")
                else {},
            )
            for n in rsp.desired.resources
        }
        rsp = f.run(f.request(xr, observed=observed, supply_token=False))
    return f.desired(rsp)


SCENARIOS = {
    "cloud-namespaced": lambda: f.desired(f.everything_ready(f.xr())),
    "cloud-cluster": lambda: f.desired(f.everything_ready(f.xr(namespace=None))),
    "connected": lambda: f.desired(
        f.everything_ready(
            f.xr(
                f.spec(
                    space={
                        "type": "Connected",
                        "host": "proxy.acme.example.com",
                        "caBundle": f.CA_DATA.decode(),
                    }
                )
            )
        )
    ),
    "connected-discovered-namespaced": lambda: f.desired(
        f.settle(f.xr(f.spec(space={"type": "Connected"})))[0]
    ),
    "connected-discovered-cluster": lambda: f.desired(
        f.settle(f.xr(f.spec(space={"type": "Connected"}), namespace=None))[0]
    ),
    "cloud-cluster-secret-private-domain": lambda: f.desired(
        f.everything_ready(
            f.xr(
                f.spec(argocd={**f.CLUSTER_SECRET, "upboundDomain": "https://upbound.example.com"})
            )
        )
    ),
    "disconnected-namespaced": lambda: disconnected_ready(
        f.xr(f.spec(space={"type": "Disconnected"}))
    ),
    "disconnected-cluster": lambda: disconnected_ready(
        f.xr(f.spec(space={"type": "Disconnected"}), namespace=None)
    ),
    "pinned-versions-unprotected": lambda: f.desired(
        f.everything_ready(
            f.xr(
                f.spec(
                    controlPlaneDefaults={
                        "crossplane": {
                            "version": "1.20.1-up.1",
                            "autoUpgrade": {"channel": "None"},
                            "state": "Paused",
                        },
                        "protect": False,
                    }
                )
            )
        )
    ),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_composed_resource_is_valid(scenario: str) -> None:
    composed = SCENARIOS[scenario]()
    kinds = {
        (r["kind"], r["spec"]["forProvider"].get("manifest", {}).get("kind"))
        for r in composed.values()
    }
    assert ("Object", "ControlPlane") in kinds
    assert ("Object", "Secret") in kinds, "the Argo CD clusters were composed"
    assert ("Object", "ObjectRoleBinding") in kinds, "group access was composed"
    assert ("Token", None) in kinds, "robot tokens were composed"
    for resource in composed.values():
        assert_valid(resource)


def test_all_kinds_are_composed_in_both_flavours() -> None:
    for namespace in ("platform", None):
        composed = f.desired(f.everything_ready(f.xr(namespace=namespace)))
        kinds = sorted({r["kind"] for r in composed.values()})
        assert kinds == [
            "Object",
            "Permission",
            "Repository",
            "Robot",
            "RobotTeamMembership",
            "Team",
            "Token",
        ]
