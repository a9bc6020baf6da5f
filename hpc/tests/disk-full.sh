#!/usr/bin/env bash
# Live test of a full disk (issue #16's case): a 2-rank job with its state folder on a small tmpfs.
# The disk is filled; a 10,000-event batch gets 503 while predictions go on and /healthz says ingest
# is degraded; space is freed; 8 single events are acknowledged without a restart; after kill -9 of
# the whole job and a restart every one of the 8 is there (the old log kept 3 of 8: replay stopped at
# the partial record the failed append had left). Needs root (mount). About 60 s.
# Usage: hpc/tests/disk-full.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/supervise.sh"
source "$(dirname "$0")/../lib/checks.sh"
bin="${1:?usage: $0 BIN_DIR}"
skip_unless_root disk-full "mount a tmpfs"
port=18150
url="http://127.0.0.1:$port"
api="$url/geopredict.v1.GeoPredictService"
work=$(mktemp -d)
state="$work/state"
mkdir -p "$state"
mount -t tmpfs -o size=48m tmpfs "$state"
job=""
stop_the_job() {
    if [ -n "$job" ]; then
        # shellcheck disable=SC2046 # one process id per word
        kill -KILL $(descendants_of "$job") "$job" 2>/dev/null || true
        wait "$job" 2>/dev/null || true
        job=""
    fi
}
cleanup() {
    stop_the_job
    umount "$state" 2>/dev/null || umount -l "$state" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

call() { curl -s -m 60 -H 'Content-Type: application/json' -d "$2" "$api/$1"; }
status_of() { curl -s -o /dev/null -w '%{http_code}' -m 60 -H 'Content-Type: application/json' -d "$2" "$api/$1"; }

start_job() {
    mpirun_local 2 "$bin/geopredict" serve --host 127.0.0.1 --port "$port" --state "$state" \
        --users 500 --store-count 50 >>"$work/serve.log" 2>&1 &
    job=$!
    wait_healthy "$url" 180 "$job"
}

check "the job starts with its state on a 48 MiB tmpfs" start_job
now=$(date +%s)
batch=$(python3 -c "
import json
print(json.dumps({'events': [{'userId': 'crowd-%d' % (i % 997), 'timestampUnixSeconds': str($now - 7200 + i % 3600),
    'latitude': 40.73, 'longitude': -73.99, 'storeId': 's%06d' % (1 + i % 50)} for i in range(10000)]}))")
printf '%s' "$batch" > "$work/batch.json"

# Fill the disk: dd stops at ENOSPC.
dd if=/dev/zero of="$state/filler" bs=1M status=none 2>/dev/null || true
full_status=$(curl -s -o "$work/full.json" -w '%{http_code}' -m 60 -H 'Content-Type: application/json' \
    --data-binary "@$work/batch.json" "$api/IngestEvents")
check "a 10,000-event batch on a full disk gets 503 ($full_status: $(head -c 160 "$work/full.json"))" test "$full_status" = 503
check "predictions go on while the disk is full" \
    test "$(status_of PredictNextVisits '{"userId":"u0000001","limit":3}')" = 200
refused=$(curl -s "$url/metrics" | grep '^geopredict_ingest_events_refused_total{reason="log_write_failed"}' || true)
check "/metrics counts the events the full disk refused ($refused)" \
    awk -v line="$refused" 'BEGIN { n = split(line, parts, " "); exit !(n == 2 && parts[2] + 0 >= 10000) }'
health=$(curl -s "$url/healthz")
check "/healthz is still ready and says ingest is degraded ($(head -c 200 <<<"$health"))" \
    grep -qE '"ready":true.*"ingest degraded: ' <<<"$health"

rm -f "$state/filler"
acknowledged=0
for i in 1 2 3 4 5 6 7 8; do
    answer=$(call IngestEvents '{"events":[{"userId":"after-the-full-disk","timestampUnixSeconds":"'$((now - 600 + i))'","latitude":40.73,"longitude":-73.99,"storeId":"s000001","eventId":"e'$i'"}]}')
    case "$answer" in *'"accepted":1'*) acknowledged=$((acknowledged + 1)) ;; *) echo "ingest answered: $answer" >&2 ;; esac
done
check "with space back, 8 single events are acknowledged without a restart" test "$acknowledged" -eq 8

stop_the_job
check "the job restarts on the same state after kill -9" start_job
user=$(call GetUser '{"userId":"after-the-full-disk"}')
check "all 8 acknowledged events are there after kill -9 and a restart ($user)" grep -q '"eventCount":"8"' <<<"$user"
grep -E "skipped|resynchron|torn|region" "$work/serve.log" | head -n 3 | sed 's/^/  log: /' || true

finish_checks disk-full "$work/serve.log"
