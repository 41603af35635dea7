"""No secret value in the repository: no Secret manifest with data, no credential literal in the
deploy files, and the rendered overlays carry no Secret at all (make-secrets.sh makes them in the
cluster)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.deploy.conftest import ROOT

# A key naming a credential, then a literal (not empty, not a ${VAR} or $(VAR) reference).
CREDENTIAL_LITERAL = re.compile(
    r"""(?ix)^\s*-?\s*["']?[\w.]*(password|passwd|secret|token|access_key|signing_key|api_key)["']?
        \s*[:=]\s*["']?(?!\$[{(]|["']?\s*$)(?P<value>[^\s"'#]{4,})""",
)
# Words that are names of secrets or placeholders, not values.
ALLOWED_VALUES = re.compile(
    r"^(true|false|loa[-\w]*|secretName|name|key|test-value|dummy[-\w]*|change-me|\[\]|\{\})$"
)


def tracked_and_new_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [ROOT / p for p in out if (ROOT / p).is_file()]


def test_no_secret_manifest_with_values() -> None:
    offenders = []
    for path in tracked_and_new_files():
        if path.suffix not in (".yaml", ".yml") or ".venv" in path.parts:
            continue
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:  # unreadable here means unchecked: refuse it
            offenders.append(f"{path.relative_to(ROOT)}: not valid YAML ({exc})")
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                values = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
                if any(str(v).strip() for v in values.values()):
                    offenders.append(f"{path.relative_to(ROOT)}: Secret {doc['metadata']['name']}")
    assert not offenders, offenders


def test_rendered_overlays_hold_no_secret(rendered) -> None:
    for overlay, docs in rendered.items():
        kinds = {d["kind"] for d in docs}
        assert "Secret" not in kinds, (
            f"{overlay} renders a Secret; secrets come from make-secrets.sh"
        )


def test_no_credential_literals_in_deploy_files() -> None:
    files = [
        ROOT / "docker-compose.yml",
        ROOT / ".env.example",
        ROOT / "Dockerfile",
        *[p for p in (ROOT / "deploy").rglob("*") if p.is_file() and p.suffix != ".json"],
    ]
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            m = CREDENTIAL_LITERAL.search(line)
            if m and not ALLOWED_VALUES.match(m.group("value")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_scanner_finds_a_planted_credential() -> None:
    assert CREDENTIAL_LITERAL.search("  POSTGRES_PASSWORD: hunter2hunter2")
    assert CREDENTIAL_LITERAL.search("LOA_SIGNING_KEY=9f86d081884c7d659a2feaa0c55ad015")
    assert not CREDENTIAL_LITERAL.search('  POSTGRES_PASSWORD: "${POSTGRES_PASSWORD:?set it}"')
    assert not CREDENTIAL_LITERAL.search("LOA_SIGNING_KEY=")


# --- issue 13, finding 11: the personal-data keys and the first admin password are provided ---
PII_VARIABLES = ("LOA_FEEDBACK_PII_KEYS", "LOA_FEEDBACK_LOOKUP_KEY")


def test_compose_gives_feedback_its_keys_and_the_gateway_the_admin_password(
    tools, tmp_path: Path
) -> None:
    import json

    from tests.deploy.test_compose import compose_config, filled_env

    proc = compose_config(tools, filled_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    for variable in PII_VARIABLES:
        assert services["feedback"]["environment"][variable] == "dummy-not-a-secret", variable
        others = [s for s, conf in services.items() if variable in (conf.get("environment") or {})]
        assert others == ["feedback"], f"{variable} reaches {others}: feedback only"
    assert services["gateway"]["environment"]["LOA_ADMIN_PASSWORD"] == "dummy-not-a-secret"
    example = (ROOT / ".env.example").read_text().splitlines()
    for variable in (*PII_VARIABLES, "LOA_ADMIN_PASSWORD"):
        assert f"{variable}=" in example, f".env.example has no empty {variable}="
        # Without it in .env, compose refuses to start and names it.
        env = tmp_path / f"without-{variable}"
        env.write_text(
            "\n".join(line for line in filled_env(tmp_path).read_text().splitlines()
                      if not line.startswith(f"{variable}="))
        )
        refused = compose_config(tools, env)
        assert refused.returncode != 0 and variable in refused.stderr, refused.stderr


def test_k8s_gives_feedback_its_keys_and_the_gateway_the_admin_password(rendered) -> None:
    make_secrets = (ROOT / "deploy" / "k8s" / "make-secrets.sh").read_text()
    made = (("loa-feedback-keys", PII_VARIABLES), ("loa-admin", ("LOA_ADMIN_PASSWORD",)))
    for secret, keys in made:
        assert f"create secret generic {secret}" in make_secrets
        for key in keys:
            assert f"--from-literal={key}=" in make_secrets, f"{secret} lacks {key}"
    for overlay, docs in rendered.items():
        deployments = {
            d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
            for d in docs
            if d["kind"] == "Deployment"
        }
        feedback_sources = [
            s["secretRef"]["name"] for s in deployments["loa-feedback"].get("envFrom", [])
            if "secretRef" in s
        ]
        assert "loa-feedback-keys" in feedback_sources, overlay
        for name, container in deployments.items():
            refs = [s.get("secretRef", {}).get("name") for s in container.get("envFrom", [])]
            if name != "loa-feedback":
                assert "loa-feedback-keys" not in refs, f"{overlay}: {name} gets the PII keys"
        admin = {e["name"]: e for e in deployments["loa-gateway"].get("env", [])}
        assert admin["LOA_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "loa-admin",
            "key": "LOA_ADMIN_PASSWORD",
        }, overlay


def test_metrics_token_and_trusted_proxies_are_wired(tools, tmp_path, rendered) -> None:
    """Issue 13: Prometheus's token and the proxy networks reach the gateway (k8s and compose)."""
    import json

    from tests.deploy.test_compose import compose_config, filled_env

    make_secrets = (ROOT / "deploy" / "k8s" / "make-secrets.sh").read_text()
    assert "create secret generic loa-metrics" in make_secrets
    assert "--from-literal=LOA_METRICS_TOKEN=" in make_secrets
    for overlay, docs in rendered.items():
        gateway = next(
            d["spec"]["template"]["spec"]["containers"][0]
            for d in docs
            if d["kind"] == "Deployment" and d["metadata"]["name"] == "loa-gateway"
        )
        env = {e["name"]: e for e in gateway.get("env", [])}
        assert env["LOA_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "loa-metrics",
            "key": "LOA_METRICS_TOKEN",
        }, overlay
        proxies = env["LOA_TRUSTED_PROXIES"]["value"]
        assert proxies and "0.0.0.0/0" not in proxies, overlay
    proc = compose_config(tools, filled_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    gw = json.loads(proc.stdout)["services"]["gateway"]["environment"]
    assert gw["LOA_METRICS_TOKEN"] == "dummy-not-a-secret"
    # Compose publishes the gateway directly (no proxy service): .env's value, empty by default.
    assert gw["LOA_TRUSTED_PROXIES"] == "dummy-not-a-secret"
    compose = (ROOT / "docker-compose.yml").read_text()
    assert '"${LOA_TRUSTED_PROXIES:-}"' in compose and "nginx" not in compose
    example = (ROOT / ".env.example").read_text().splitlines()
    assert "LOA_METRICS_TOKEN=" in example and "LOA_TRUSTED_PROXIES=" in example
