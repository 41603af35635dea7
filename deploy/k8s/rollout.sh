#!/usr/bin/env bash
# Installs or upgrades loa on Kubernetes with one overlay, in the order that keeps it up:
#   1. namespace and the data stores' custom resources (their operators must be installed);
#   2. the Secrets (make-secrets.sh: only those missing; the operators pick them up on retry);
#   3. everything but the Deployments and their autoscalers, including the migrate Job of the new
#      version; wait until the Job has completed (old pods keep serving meanwhile);
#   4. everything (the Deployments roll one pod at a time: maxUnavailable 0); wait for rollouts.
#
#   deploy/k8s/rollout.sh dev|prod
# Needs kubectl (1.27+) and kustomize on PATH, and a kubeconfig pointing at the cluster.
set -euo pipefail

OVERLAY="${1:?usage: rollout.sh dev|prod}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="$HERE/overlays/$OVERLAY"
[[ -d $DIR ]] || { echo "no overlay $DIR" >&2; exit 2; }

RENDERED="$(mktemp)"
trap 'rm -f "$RENDERED"' EXIT
kustomize build "$DIR" >"$RENDERED"
NS="$(awk '/^kind: Namespace$/ {ns = 1} ns && /^  name: / {print $2; exit}' "$RENDERED")"
[[ -n $NS ]] || { echo "the overlay has no Namespace" >&2; exit 2; }
K=(kubectl -n "$NS")

echo "== 1. namespace and data stores ($NS)"
kubectl apply -f "$RENDERED" -l app.kubernetes.io/component=namespace
kubectl apply -f "$RENDERED" -l app.kubernetes.io/component=datastore

echo "== 2. secrets"
"$HERE/make-secrets.sh" "$NS"

echo "== 3. configuration and migrations"
"${K[@]}" delete job loa-migrate --ignore-not-found --wait=true
kubectl apply -f "$RENDERED" -l 'app.kubernetes.io/component!=server'
if ! "${K[@]}" wait --for=condition=complete job/loa-migrate --timeout=30m; then
    "${K[@]}" logs job/loa-migrate --tail=100 || true
    echo "migrations failed: the running version is untouched" >&2
    exit 1
fi

echo "== 4. services"
kubectl apply -f "$RENDERED"
for d in gateway media publishing feedback search; do
    "${K[@]}" rollout status "deployment/loa-$d" --timeout=15m
done
echo "loa is up in $NS"
