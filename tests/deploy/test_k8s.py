"""deploy/k8s: every overlay builds; every built-in object validates against the Kubernetes
OpenAPI schemas shipped in kubernetes-validate (strict: unknown fields fail), offline; every custom
resource validates against the JSON schema in deploy/k8s/schemas (written from the operators'
documented CRDs: the fields loa uses, unknown spec fields fail); and the workload rules hold."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy.conftest import K8S, ROOT, loa_settings_env_names, of_kind

# The oldest Kubernetes loa supports and the newest schemas at hand.
K8S_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
SCHEMAS = {
    (s["properties"]["apiVersion"]["const"], s["properties"]["kind"]["const"]): s
    for s in (json.loads(p.read_text()) for p in sorted((K8S / "schemas").glob("*.json")))
}
SERVICES = ("gateway", "media", "publishing", "feedback", "search")
# Secrets made by deploy/k8s/make-secrets.sh (or by an operator), never stored in the repo.
EXTERNAL_SECRETS = {
    "loa-secrets",
    "loa-channels",
    "loa-keda-rabbitmq",
    "loa-pg-credentials",
    "loa-es-user",
    "loa-es-roles",
    "loa-minio-env",
    "loa-feedback-keys",
    "loa-admin",
    "loa-metrics",
}


def name(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_objects_validate(overlay, version: str) -> None:
    _, docs = overlay
    errors = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name(doc)}: no schema for {doc['apiVersion']} (unknown kind?)")
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name(doc)}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_validator_catches_a_typo(rendered) -> None:
    """The strict schemas are not vacuous: a misspelt field fails."""
    deployment = copy.deepcopy(of_kind(rendered["prod"], "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
    scaled = copy.deepcopy(of_kind(rendered["prod"], "ScaledObject")[0])
    scaled["spec"]["triggers"][0]["metadata"]["queuename"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")])


def test_custom_resources_validate(overlay) -> None:
    _, docs = overlay
    kinds = set()
    for doc in docs:
        schema = SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if schema is None:
            continue
        kinds.add(doc["kind"])
        jsonschema.Draft7Validator.check_schema(schema)
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
        assert not errors, f"{name(doc)}: " + "; ".join(
            f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors
        )
    assert kinds == {
        "Cluster",
        "Database",
        "RabbitmqCluster",
        "Tenant",
        "Elasticsearch",
        "ScaledObject",
        "TriggerAuthentication",
    }


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name(d), d["spec"]["template"]["spec"]) for d in docs if d["kind"] in ("Deployment", "Job")
    ]


def test_workloads_are_hardened_and_sized(overlay) -> None:
    _, docs = overlay
    assert len(of_kind(docs, "Deployment")) == len(SERVICES)
    for who, spec in pod_specs(docs):
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] >= 10000, who
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", who
        assert spec["automountServiceAccountToken"] is False, who
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, who
            assert sc["allowPrivilegeEscalation"] is False, who
            assert sc["capabilities"]["drop"] == ["ALL"], who
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][part]), f"{who}: {part}"
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert {"/tmp", "/var/lib/loa"} <= mounts, f"{who}: writable scratch space"
            assert re.match(r"^[\w./-]*loa(-media)?:[\w.-]+$", c["image"]), c["image"]


def test_deployments_have_probes_and_graceful_shutdown(overlay) -> None:
    _, docs = overlay
    for d in of_kind(docs, "Deployment"):
        spec = d["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in (
            ("startupProbe", "/livez"),
            ("livenessProbe", "/livez"),
            ("readinessProbe", "/readyz"),
        ):
            get = c[probe]["httpGet"]
            assert get["path"] == path, f"{name(d)} {probe}"
            assert get["port"] in ports, f"{name(d)} {probe} port"
        service = d["metadata"]["name"].removeprefix("loa-")
        assert c["args"] == ["serve", service]
        expected_port = 8000 if service == "gateway" else 8081
        assert expected_port in ports.values(), name(d)
        assert c["lifecycle"]["preStop"], name(d)
        assert spec["terminationGracePeriodSeconds"] >= 30
        assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    media = next(d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "loa-media")
    assert media["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 600
    assert (
        media["spec"]["template"]["spec"]["containers"][0]["image"]
        .split(":")[0]
        .endswith("loa-media")
    )
    others = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] != "loa-media"]
    assert all(
        not d["spec"]["template"]["spec"]["containers"][0]["image"].split(":")[0].endswith("-media")
        for d in others
    )


def test_scaling_disruption_and_network(overlay) -> None:
    _, docs = overlay
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "loa-gateway"
    (so,) = of_kind(docs, "ScaledObject")
    assert so["spec"]["scaleTargetRef"]["name"] == "loa-media"
    (trigger,) = so["spec"]["triggers"]
    assert (
        trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == "loa.media.transcode"
    )
    auths = {a["metadata"]["name"] for a in of_kind(docs, "TriggerAuthentication")}
    assert trigger["authenticationRef"]["name"] in auths
    # Autoscaled Deployments leave the replica count to their autoscaler.
    assert "replicas" not in deployments["loa-gateway"]["spec"]
    assert "replicas" not in deployments["loa-media"]["spec"]
    pdbs = of_kind(docs, "PodDisruptionBudget")
    policies = of_kind(docs, "NetworkPolicy")
    for dname, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(selects(p["spec"]["selector"], labels) for p in pdbs), f"{dname}: no PDB"
        deny = [
            p
            for p in policies
            if set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert any(selects(p["spec"]["podSelector"], labels) for p in deny), (
            f"{dname}: no default deny"
        )
        egress_to = [
            p
            for p in policies
            if selects(p["spec"]["podSelector"], labels) and p["spec"].get("egress")
        ]
        assert egress_to, f"{dname}: no egress allowed at all"
    # Only search reaches Elasticsearch.
    es = [p for p in policies if "elasticsearch" in json.dumps(p["spec"].get("egress", []))]
    for dname, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(selects(p["spec"]["podSelector"], labels) for p in es) == (
            dname == "loa-search"
        ), dname


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        op = expr["operator"]
        if (
            (op == "In" and value not in expr["values"])
            or (op == "NotIn" and value in expr["values"])
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def test_references_resolve(overlay) -> None:
    overlay_name, docs = overlay
    configmaps = {d["metadata"]["name"] for d in of_kind(docs, "ConfigMap")}
    services = {d["metadata"]["name"] for d in of_kind(docs, "Service")}
    make_secrets = (K8S / "make-secrets.sh").read_text()
    for who, spec in pod_specs(docs):
        assert spec["serviceAccountName"] in {
            d["metadata"]["name"] for d in of_kind(docs, "ServiceAccount")
        }
        for c in spec["containers"]:
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in configmaps, who
                else:
                    assert src["secretRef"]["name"] in EXTERNAL_SECRETS, who
    for secret in EXTERNAL_SECRETS:
        assert secret in make_secrets, f"make-secrets.sh does not mention {secret}"
    (ingress,) = of_kind(docs, "Ingress")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] in services
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] != "Namespace"} == {
        d["metadata"]["name"] for d in of_kind(docs, "Namespace")
    }
    (job,) = of_kind(docs, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    images = {
        c["image"]
        for d in of_kind(docs, "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] in images, (
        "migrate runs the new version"
    )


def test_config_names_loa_settings(overlay) -> None:
    _, docs = overlay
    known = loa_settings_env_names()
    (cm,) = of_kind(docs, "ConfigMap")
    unknown = set(cm["data"]) - known
    assert not unknown, f"not loa settings (shared/config.py): {unknown}"
    assert cm["data"]["LOA_QUEUE_TYPE"] == "quorum"
    secret_keys = set(
        re.findall(r"--from-literal=(LOA_[A-Z0-9_]+)=", (K8S / "make-secrets.sh").read_text())
    )
    assert secret_keys <= known and not secret_keys & set(cm["data"])
    for who, spec in pod_specs(docs):
        for c in spec["containers"]:
            extra = {e["name"] for e in c.get("env", []) if e["name"].startswith("LOA_")}
            assert extra <= known, who


def test_scripts_parse() -> None:
    import subprocess

    for script in (
        K8S / "rollout.sh",
        K8S / "make-secrets.sh",
        ROOT / "scripts" / "deploy-tools.sh",
    ):
        subprocess.run(["bash", "-n", str(script)], check=True)
