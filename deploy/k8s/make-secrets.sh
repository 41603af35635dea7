#!/usr/bin/env bash
# Creates the Secrets loa and its data stores need, with new random values, in NAMESPACE.
# Idempotent: a Secret that exists is left alone (rotate with `--rotate NAME`, docs/operations.md).
# Nothing it makes is ever written to the repository.
#
#   deploy/k8s/make-secrets.sh NAMESPACE            before the first `rollout.sh` (it calls this)
#
# Made here:
#   loa-pg-credentials  basic-auth, user loa          -> CloudNativePG bootstrap owner
#   loa-es-user         basic-auth, user loa + roles  -> ECK file realm
#   loa-es-roles        roles.yml (es-roles.yml)      -> ECK roles
#   loa-minio-env       config.env (root user/pass)   -> MinIO Tenant
#   loa-secrets         LOA_SIGNING_KEY, LOA_RPC_SIGNING_KEY, LOA_DATABASE_URL_TEMPLATE,
#                       LOA_ELASTICSEARCH_URL, LOA_S3_ACCESS_KEY, LOA_S3_SECRET_KEY,
#                       LOA_AMQP_URI                                     -> every loa pod
#   loa-keda-rabbitmq   host (management API URL)     -> KEDA TriggerAuthentication
#   loa-feedback-keys   LOA_FEEDBACK_PII_KEYS, LOA_FEEDBACK_LOOKUP_KEY -> the feedback pods only
#                       (rotation of the PII key ring: docs/operations.md; keep a copy offline)
#   loa-admin           LOA_ADMIN_PASSWORD (first 'admin' account)    -> the gateway pods only
#   loa-metrics         LOA_METRICS_TOKEN (Bearer token for the gateway's /metrics) -> the gateway
#                       pods and Prometheus (a scrape job's or ServiceMonitor's authorization)
# LOA_AMQP_URI and loa-keda-rabbitmq need the RabbitMQ operator's Secret loa-rabbitmq-default-user:
# the script waits for it (up to 10 minutes) once the RabbitmqCluster is applied.
# Channel credentials (Facebook, Zalo, YouTube, SMTP, FTP) go in the optional Secret loa-channels,
# made by hand: kubectl -n NAMESPACE create secret generic loa-channels --from-env-file=FILE
set -euo pipefail

NS="${1:?usage: make-secrets.sh NAMESPACE}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K=(kubectl -n "$NS")

rand() { openssl rand -hex "${1:-32}"; }
exists() { "${K[@]}" get secret "$1" >/dev/null 2>&1; }
get() { "${K[@]}" get secret "$1" -o "jsonpath={.data.$2}" | base64 -d; }
label() { "${K[@]}" label secret "$1" app.kubernetes.io/part-of=loa --overwrite >/dev/null; }

if ! exists loa-pg-credentials; then
    "${K[@]}" create secret generic loa-pg-credentials --type=kubernetes.io/basic-auth \
        --from-literal=username=loa --from-literal=password="$(rand)"
    label loa-pg-credentials
fi
if ! exists loa-es-roles; then
    "${K[@]}" create secret generic loa-es-roles --from-file=roles.yml="$HERE/components/datastores/es-roles.yml"
    label loa-es-roles
fi
if ! exists loa-es-user; then
    "${K[@]}" create secret generic loa-es-user --type=kubernetes.io/basic-auth \
        --from-literal=username=loa --from-literal=password="$(rand)" --from-literal=roles=loa_app
    label loa-es-user
fi
if ! exists loa-minio-env; then
    "${K[@]}" create secret generic loa-minio-env --from-literal=config.env="export MINIO_ROOT_USER=loa$(rand 6)
export MINIO_ROOT_PASSWORD=$(rand)
export MINIO_BROWSER=off"
    label loa-minio-env
fi

if ! exists loa-feedback-keys; then
    # A Fernet key is 32 random bytes in URL-safe base64.
    "${K[@]}" create secret generic loa-feedback-keys \
        --from-literal=LOA_FEEDBACK_PII_KEYS="$(openssl rand 32 | base64 | tr '+/' '-_')" \
        --from-literal=LOA_FEEDBACK_LOOKUP_KEY="$(rand)"
    label loa-feedback-keys
fi
if ! exists loa-admin; then
    "${K[@]}" create secret generic loa-admin --from-literal=LOA_ADMIN_PASSWORD="$(rand 16)"
    label loa-admin
    echo "first admin password: kubectl -n $NS get secret loa-admin -o jsonpath='{.data.LOA_ADMIN_PASSWORD}' | base64 -d"
fi
if ! exists loa-metrics; then
    # Prometheus sends it as `Authorization: Bearer …` to the gateway's /metrics; copy the Secret
    # (key LOA_METRICS_TOKEN) to Prometheus's namespace for a ServiceMonitor's authorization.
    "${K[@]}" create secret generic loa-metrics --from-literal=LOA_METRICS_TOKEN="$(rand)"
    label loa-metrics
fi

if ! exists loa-secrets || ! exists loa-keda-rabbitmq; then
    echo "waiting for loa-rabbitmq-default-user (made by the RabbitMQ operator)..."
    for _ in $(seq 120); do exists loa-rabbitmq-default-user && break; sleep 5; done
    exists loa-rabbitmq-default-user || { echo "loa-rabbitmq-default-user missing: is the RabbitmqCluster applied and the operator running?" >&2; exit 1; }
    rmq_user="$(get loa-rabbitmq-default-user username)"
    rmq_pass="$(get loa-rabbitmq-default-user password)"
    # The operator's password may hold characters that are special in a URL.
    enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
    if ! exists loa-secrets; then
        minio_env="$(get loa-minio-env config.env)"
        s3_user="$(sed -n 's/^export MINIO_ROOT_USER=//p' <<<"$minio_env")"
        s3_pass="$(sed -n 's/^export MINIO_ROOT_PASSWORD=//p' <<<"$minio_env")"
        "${K[@]}" create secret generic loa-secrets \
            --from-literal=LOA_SIGNING_KEY="$(rand)" \
            --from-literal=LOA_RPC_SIGNING_KEY="$(rand)" \
            --from-literal=LOA_AMQP_URI="amqp://$(enc "$rmq_user"):$(enc "$rmq_pass")@loa-rabbitmq:5672/" \
            --from-literal=LOA_DATABASE_URL_TEMPLATE="postgresql+psycopg2://loa:$(get loa-pg-credentials password)@loa-pg-rw:5432/loa_{service}" \
            --from-literal=LOA_ELASTICSEARCH_URL="http://loa:$(get loa-es-user password)@loa-es-es-http:9200" \
            --from-literal=LOA_S3_ACCESS_KEY="$s3_user" \
            --from-literal=LOA_S3_SECRET_KEY="$s3_pass"
        label loa-secrets
    fi
    if ! exists loa-keda-rabbitmq; then
        "${K[@]}" create secret generic loa-keda-rabbitmq \
            --from-literal=host="http://$(enc "$rmq_user"):$(enc "$rmq_pass")@loa-rabbitmq:15672/"
        label loa-keda-rabbitmq
    fi
fi
# loa-secrets made before the services verified signed actors: add the key they now need.
if exists loa-secrets && [ -z "$(get loa-secrets LOA_RPC_SIGNING_KEY 2>/dev/null)" ]; then
    "${K[@]}" patch secret loa-secrets --type=merge \
        -p "{\"stringData\":{\"LOA_RPC_SIGNING_KEY\":\"$(rand)\"}}" >/dev/null
fi
echo "secrets present in $NS: $("${K[@]}" get secret -l app.kubernetes.io/part-of=loa -o name | tr '\n' ' ')"
