"""The benchmark's peer: the same environment composed with function-pythonic (0.1.4, 0.6.3).

function-pythonic runs a `BaseComposite` subclass named by the step input's `composite`
field; it is started with `--python-path bench/peer` so that this module imports. The class
composes the same resources as function-upbound-environment does for a namespaced XR in a
Cloud or Connected Space, with the same names, in function-pythonic's attribute style. It
validates nothing: it exists to measure what composing costs on that framework.
"""

import hashlib
import json
import re

from crossplane.pythonic import B64Decode, B64Encode, BaseComposite

OBJECT = "kubernetes.m.crossplane.io/v1alpha1"
IAM = "iam.m.upbound.io/v1alpha1"
REPOSITORY = "repository.m.upbound.io/v1alpha1"
KEEP = ["Observe", "Create", "Update", "LateInitialize"]
PREFIX = "platform.upbound.io/"
PROTECT = PREFIX + "protect"
HOLDS = PREFIX + "holds-protected"


class UpboundEnvironmentComposite(BaseComposite):
    """Groups, control planes, Argo CD clusters and Upbound IAM from one XR."""

    def compose(self):
        """Compose everything whose prerequisites are ready."""
        self.xr_name = str(self.metadata.name)
        self.namespace = str(self.metadata.namespace)
        self.org = str(self.spec.organization)
        space = self.spec.space
        self.host = str(space.host or f"{space.name}.space.mxe.upbound.io")
        self.space_id = str(space.name or space.host or space.type)
        token = self.requireds["upbound-token"](
            apiVersion="v1",
            kind="Secret",
            namespace="crossplane-system",
            name="upbound-credentials",
        )
        self.token = B64Decode(str(token[0].data.token)) if len(token) else None
        entries = []
        for group in sorted(self.spec.groups, key=lambda g: str(g.name)):
            self.group(str(group.name), [str(cp.name) for cp in group.controlPlanes])
            for cp in sorted(group.controlPlanes, key=lambda c: str(c.name)):
                entries.append(self.control_plane(str(group.name), cp))
        self.iam()
        ready = sum(1 for e in entries if e["ready"])
        self.status.controlPlanes = entries
        self.status.access = []  # the benchmark's environment grants no access bindings
        self.status.summary = {
            "groups": len(self.spec.groups),
            "controlPlanes": len(entries),
            "controlPlanesReady": ready,
            "teams": len(self.spec.iam.teams),
            "robots": len(self.spec.iam.robots),
            "repositories": len(self.spec.iam.repositories),
        }
        message = f"{ready} of {len(entries)} control planes ready"
        if ready == len(entries):
            self.conditions.ControlPlanesReady("Available", message, True)
            self.ttl = 600
        else:
            self.conditions.ControlPlanesReady("Waiting", message, False)
            self.ttl = 15

    def managed(self, key, api_version, kind, provider_config, protect=None):
        """A managed resource with its hashed name, in the XR's namespace.

        `protect` None: a kind that is never protected; a bool is also recorded in the
        PROTECT annotation, as the function records its choice.
        """
        # Keywords: 0.1 takes the apiVersion first, 0.6 the kind first.
        resource = self.resources[key](
            apiVersion=api_version, kind=kind, namespace=self.namespace, name=self.name_of(key)
        )
        resource.spec.providerConfigRef = {"kind": "ClusterProviderConfig", "name": provider_config}
        if protect is not None:
            resource.metadata.annotations[PROTECT] = "true" if protect else "false"
        if protect:
            resource.spec.managementPolicies = KEEP
        return resource

    def name_of(self, key):
        """The metadata.name of a composed resource: readable, then a short hash."""
        readable = re.sub(r"[^a-z0-9-]+", "-", f"{self.xr_name}-{key}".lower())[:57].strip("-")
        digest = hashlib.sha256(f"{self.xr_name}/{key}".encode()).hexdigest()[:5]
        return f"{readable}-{digest}"

    def group(self, name, control_planes):
        """The group's Namespace in the Space, recording the protected control planes it holds."""
        group = self.managed(f"group.{name}", OBJECT, "Object", "upbound-space", protect=True)
        if control_planes:  # all protected, the default
            group.metadata.annotations[HOLDS] = ",".join(sorted(control_planes))
        group.spec.forProvider.manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"spaces.upbound.io/group": "true"}},
        }

    def control_plane(self, group, cp):
        """The ControlPlane once its group is ready, then its Argo CD cluster; a status entry."""
        name = str(cp.name)
        key = f"controlplane.{group}.{name}"
        observed = self.request.observed.resources
        exists = key in observed
        ready = exists and self.resources[key].conditions.Ready.status is True
        server = f"https://{self.host}/apis/spaces.upbound.io/v1beta1/namespaces/{group}/controlplanes/{name}/k8s"
        # Every control plane of the benchmark's spec registers with Argo CD.
        entry = {"group": group, "name": name, "ready": ready, "server": server, "registered": True}
        if not exists and not self.resources[f"group.{group}"].conditions.Ready.status:
            del self.resources[key]
            return {**entry, "message": f"waiting for group {group} to be ready", "argoCluster": ""}
        resource = self.managed(key, OBJECT, "Object", "upbound-space", protect=True)
        resource.spec.readiness.policy = "DeriveFromObject"
        manifest = resource.spec.forProvider.manifest
        manifest.apiVersion = "spaces.upbound.io/v1beta1"
        manifest.kind = "ControlPlane"
        manifest.metadata = {"name": name, "namespace": group}
        manifest.spec.crossplane.autoUpgrade.channel = str(
            cp.crossplane.autoUpgrade.channel or "Stable"
        )
        cluster = f"controlplane-{group}-{name}"
        argo_key = f"argocd-cluster.{group}.{name}"
        if self.token is None or not (ready or argo_key in observed):
            message = "Ready" if ready else "waiting for the ControlPlane to be ready"
            return {**entry, "message": message, "argoCluster": ""}
        self.argo_cluster(argo_key, cluster, server, group, cp)
        return {**entry, "message": "Ready" if ready else "waiting", "argoCluster": cluster}

    def argo_cluster(self, key, cluster, server, group, cp):
        """The Argo CD cluster Secret: `up org token` with the organization's token."""
        config = {
            "execProviderConfig": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "args": ["org", "token"],
                "command": "up",
                "env": {"ORGANIZATION": self.org, "UP_TOKEN": self.token},
            },
            "tlsClientConfig": {"insecure": False},
        }
        data = {
            "name": B64Encode(cluster),
            "server": B64Encode(server),
            "config": B64Encode(json.dumps(config, sort_keys=True, separators=(",", ":"))),
        }
        if cp.argocd.project:
            data["project"] = B64Encode(str(cp.argocd.project))
        labels = {
            PREFIX + "organization": self.org,
            PREFIX + "group": group,
            PREFIX + "controlplane": str(cp.name),
            **{k: str(v) for k, v in self.spec.argocd.labels},
            **{k: str(v) for k, v in cp.argocd.labels},
            "argocd.argoproj.io/secret-type": "cluster",
        }
        secret = self.managed(key, OBJECT, "Object", "argocd").spec.forProvider.manifest
        secret.apiVersion = "v1"
        secret.kind = "Secret"
        identity = f"{self.org}/{self.space_id}/{group}/{cp.name}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
        secret.metadata = {"name": f"{cluster}-{digest}", "namespace": "argocd", "labels": labels}
        secret.type = "Opaque"
        secret.data = data

    def iam(self):
        """Teams, robots and their memberships, repositories and their permissions."""
        for team in self.spec.iam.teams:
            key = f"team.{team.name}"
            resource = self.managed(key, IAM, "Team", "default", protect=True)
            resource.externalName = self.name_of(key)
            resource.spec.forProvider = {"name": str(team.name), "organizationName": self.org}
        for robot in self.spec.iam.robots:
            key = f"robot.{robot.name}"
            resource = self.managed(key, IAM, "Robot", "default", protect=True)
            resource.externalName = self.name_of(key)
            resource.spec.forProvider.name = str(robot.name)
            resource.spec.forProvider.description = str(
                robot.description or f"Managed by UpboundEnvironment {self.xr_name}"
            )
            resource.spec.forProvider.owner.name = self.org
            for team in robot.teams:
                membership = self.managed(
                    f"robot-membership.{robot.name}.{team}",
                    IAM,
                    "RobotTeamMembership",
                    "default",
                    protect=True,
                )
                membership.spec.forProvider.robotIdRef.name = self.name_of(key)
                membership.spec.forProvider.teamIdRef.name = self.name_of(f"team.{team}")
        for repo in self.spec.iam.repositories:
            key = f"repository.{repo.name}"
            resource = self.managed(key, REPOSITORY, "Repository", "default", protect=True)
            resource.externalName = str(repo.name)
            resource.spec.forProvider = {
                "name": str(repo.name),
                "organizationName": self.org,
                "public": bool(repo.public),
                "publish": bool(repo.publish),
            }
            for grant in repo.permissions:
                permission = self.managed(
                    f"repository-permission.{repo.name}.{grant.team}",
                    REPOSITORY,
                    "Permission",
                    "default",
                    protect=True,
                )
                permission.spec.forProvider = {
                    "organizationName": self.org,
                    "permission": str(grant.permission),
                    "repositoryRef": {"name": self.name_of(key)},
                    "teamIdRef": {"name": self.name_of(f"team.{grant.team}")},
                }
