#!/usr/bin/env bash
# The container image, live (opt-in: GEOPREDICT_CONTAINER_TEST=1 or `hpc/test --container`; it builds
# a release image, minutes on a loaded machine). Builds the image with hpc/container build, checks its
# size (at most 300 MB), user and contents, serves the synthetic city from it at 2 ranks with the
# state on a volume, ingests events, restarts the container and then replaces it with a new one on the
# same volume, and checks after each that every event is still there; `podman stop` must end it
# cleanly (SIGTERM to rank 0, exit 0). Then hpc/container-cluster-test with the same image (three
# containers as hosts; GEOPREDICT_CONTAINER_CLUSTER=0 leaves it out). Removes every container, volume
# and image it made.
#
#   hpc/tests/container.sh [BIN_DIR]     BIN_DIR is ignored (the image takes release binaries)
#   GEOPREDICT_CONTAINER_BIN=DIR         a release build folder (geopredict, mpiplug and the SPMD
#                                        programs already built; default: build them)
#   GEOPREDICT_CONTAINER_IMAGE=NAME:TAG  test this image instead of building one (it is kept)
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/container.sh"
source "$(dirname "$0")/../lib/checks.sh"
cd "$GEOPREDICT_ROOT"

skip_unless_opted_in container GEOPREDICT_CONTAINER_TEST "builds a release image; hpc/test --container, or GEOPREDICT_CONTAINER_TEST=1"
skip_unless_root container "run debootstrap and rootful podman"
port=18110
limit_mb=300
started=$(date +%s)
prefix="geopredict-test-$$"
image="${GEOPREDICT_CONTAINER_IMAGE:-}"
built_image=""
volume="$prefix-state"
container="$prefix-serve"
workdir=$(mktemp -d)
cleanup() {
    podman rm -f --time 0 "$container" >/dev/null 2>&1 || true
    podman volume rm -f "$volume" >/dev/null 2>&1 || true
    [ -n "$built_image" ] && podman rmi -f "$built_image" >/dev/null 2>&1
    rm -rf "$workdir"
}
trap cleanup EXIT

if [ -z "$image" ]; then
    built_image="localhost/geopredict:test-$$"
    image="$built_image"
    build_options=(--tag "$image")
    [ -n "${GEOPREDICT_CONTAINER_BIN:-}" ] && build_options+=(--bin "$GEOPREDICT_CONTAINER_BIN")
    build_started=$(date +%s)
    hpc/container build "${build_options[@]}" 2>&1 | tail -n 3
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "FAILED: hpc/container build" >&2; exit 1; }
    echo "  (image built in $(( $(date +%s) - build_started ))s)"
fi

contains() { case "$1" in *"$2"*) return 0 ;; *) echo "       missing $2 in: ${1:0:300}" >&2; return 1 ;; esac; }

size=$(podman image inspect --format '{{.Size}}' "$image")
check "the image is at most $limit_mb MB ($(( size / 1000000 )) MB by podman image inspect)" test "$size" -le $((limit_mb * 1000000))
user=$(podman_run --rm "$image" id -u 2>/dev/null || true)
check "it runs as an unprivileged user (uid $user)" test -n "$user" -a "$user" != 0
check "it holds no compiler" podman_run --rm "$image" sh -c '! command -v cc && ! command -v gcc && ! command -v swiftc' 2>/dev/null
check "its health check is the entry point's /healthz probe" \
    contains "$(podman image inspect --format '{{json .HealthCheck}}' "$image")" '"/usr/local/bin/geopredict-entrypoint","healthcheck"' 

url="http://127.0.0.1:$port"
route=/geopredict.v1.GeoPredictService
post() { curl -sS --max-time 30 -H 'Content-Type: application/json' -d "$2" "$url$1"; }
wait_ready() {  # wait_ready SECONDS: until /healthz answers 200
    local deadline=$(( $(date +%s) + $1 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/healthz" 2>/dev/null)" = 200 ] && return 0
        [ "$(podman inspect --format '{{.State.Running}}' "$container" 2>/dev/null)" = true ] || break
        sleep 1
    done
    podman logs "$container" 2>&1 | tail -n 20 >&2
    return 1
}
serve_container() {  # serve_container [more serve options]
    podman_run -d --name "$container" -p "127.0.0.1:$port:8080" -v "$volume:/state" "$image" \
        serve --ranks 2 --allow-unauthenticated --users 500 --store-count 100 "$@" >/dev/null 2>"$workdir/run.err"
}

log "serving from the image at 2 ranks (state on volume $volume)"
podman volume create "$volume" >/dev/null
serve_started=$(date +%s)
# The boosted ranker: serve refuses to start with it when libxgboost (dlopen()ed, not linked) is missing.
serve_container --ranker xgboost
wait_ready 300 && ready=0 || ready=1
check "the container serves with --ranker xgboost: /healthz 200 (first start, trains the model: $(( $(date +%s) - serve_started ))s)" test "$ready" -eq 0
check "podman healthcheck run says healthy" podman healthcheck run "$container"
status=$(post /mpiplug.v1.ClusterService/GetClusterStatus '{}' || true)
check "both ranks take part (GetClusterStatus)" contains "$status" '"rank":1'
answer=$(post "$route/PredictNextVisits" '{"userId":"u0000001","limit":3}' || true)
check "PredictNextVisits answers for a synthetic user" contains "$answer" '"storeId"'

users=(container-user-1 container-user-2 container-user-3 container-user-4)
events=""
for n in 1 2 3 4; do
    for step in 0 1 2; do
        events+="${events:+,}{\"userId\":\"container-user-$n\",\"timestampUnixSeconds\":\"$((1700000000 + n * 60 + step * 3600))\",\"latitude\":40.7$n,\"longitude\":-73.9$step}"
    done
done
answer=$(post "$route/IngestEvents" "{\"events\":[$events]}" || true)
check "12 events for 4 new users accepted" contains "$answer" '"accepted":12'
events_all_there() {  # every new user has its 3 events
    local user reply
    for user in "${users[@]}"; do
        reply=$(post "$route/GetUser" "{\"userId\":\"$user\"}" || true)
        contains "$reply" '"eventCount":"3"' || return 1
    done
}
check "GetUser counts 3 events for each" events_all_there

stop_started=$(date +%s.%N)
podman stop --time 30 "$container" >/dev/null 2>&1
stop_seconds=$(awk -v from="$stop_started" -v to="$(date +%s.%N)" 'BEGIN { printf "%.1f", to - from }')
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
check "podman stop ends it cleanly: SIGTERM to rank 0, exit 0 in ${stop_seconds}s (not killed)" test "$exit_code" = 0

restart_started=$(date +%s)
podman start "$container" >/dev/null 2>&1
wait_ready 300 && ready=0 || ready=1
check "the restarted container serves again ($(( $(date +%s) - restart_started ))s)" test "$ready" -eq 0
check "after the restart every event is still there" events_all_there

podman rm -f --time 30 "$container" >/dev/null 2>&1
replace_started=$(date +%s)
serve_container
wait_ready 300 && ready=0 || ready=1
check "a new container on the same volume serves ($(( $(date +%s) - replace_started ))s)" test "$ready" -eq 0
check "in the new container every event is still there" events_all_there
podman logs "$container" > "$workdir/serve.log" 2>&1
check "the new container read the model checkpoint instead of training again" \
    grep -q "loaded model checkpoint" "$workdir/serve.log"

podman rm -f --time 30 "$container" >/dev/null 2>&1 || true

# The same image as three hosts of a cluster (its own containers, network and volume).
if [ "${GEOPREDICT_CONTAINER_CLUSTER:-1}" = 1 ]; then
    log "the image as a three-container cluster (hpc/container-cluster-test)"
    cluster_options=(--image "$image")
    [ -n "${GEOPREDICT_CONTAINER_BIN:-}" ] && cluster_options+=(--bin "$GEOPREDICT_CONTAINER_BIN")
    cluster_started=$(date +%s)
    hpc/container-cluster-test "${cluster_options[@]}" && cluster=0 || cluster=$?
    check "hpc/container-cluster-test passes ($(( $(date +%s) - cluster_started ))s)" test "$cluster" -eq 0
fi

echo "container test: $(( $(date +%s) - started ))s in all"
finish_checks "container test" "$workdir/serve.log"
