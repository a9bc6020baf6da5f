#!/usr/bin/env bash
# `mpiplug new`, end to end: scaffolds a service package into a temporary folder, checks that its
# generated code matches its proto, builds it from scratch once (`swift build --build-tests`, its own
# .build; dependencies resolve from SwiftPM's cache when it has them), serves it under mpirun -np 2,
# calls its two methods with curl and checks the answers — Summarize, a collective round, and
# Increment, a keyed route: each counter must live on the rank its name hashes to, add up right under
# concurrent calls, and run there only (GetClusterStatus's per-rank keyed figures) — then runs the
# package's own hpc/test (swift test and its live checks at 1 and 3 ranks), whose build step then has
# nothing left to compile. Serves on ports in 18600-18999.
# Slow: the one from-scratch build of MPIPlug and its dependencies takes minutes (hpc/README.md).
#
#   hpc/tests/scaffold.sh BIN_DIR           BIN_DIR holds mpiplug (and protoc-gen-mpiplug, if built)
#   SCAFFOLD_TEST=skip hpc/test             skips it, saying so
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bin="$(cd "${1:?usage: $0 BIN_DIR}" && pwd)"

if [ "${SCAFFOLD_TEST:-}" = skip ]; then
    echo "SKIPPED scaffold test (SCAFFOLD_TEST=skip)"
    exit 0
fi
ensure_packages protobuf-compiler libprotobuf-dev curl jq
[ -x "$bin/mpiplug" ] || { echo "error: $bin/mpiplug is missing" >&2; exit 1; }

workdir=$(mktemp -d /tmp/scaffold-test.XXXXXX)
job=""
cleanup() {
    [ -n "$job" ] && kill -KILL -- "-$job" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT
failures=0
fail() { echo "  FAIL $*"; failures=$((failures + 1)); }
ok() { echo "  ok   $*"; }

# free_ports COUNT: the first of COUNT consecutive ports in 18600-18999 that nothing listens on,
# starting at a random one so that two runs at once rarely pick the same.
free_ports() {
    local count="$1" start port offset
    start=$((18600 + RANDOM % 380))
    for offset in $(seq 0 399); do
        port=$((18600 + (start - 18600 + offset) % (400 - count)))
        local busy=0 p
        for p in $(seq "$port" $((port + count - 1))); do
            ss -Htln "sport = :$p" 2>/dev/null | grep -q . && { busy=1; break; }
        done
        [ "$busy" -eq 0 ] && { echo "$port"; return; }
    done
    echo "error: no $count free consecutive ports in 18600-18999" >&2
    return 1
}

# A name with a hyphen and a digit exercises every naming rule (module GeoStats2Service, proto geo_stats2.v1).
name=geo-stats2
package="$workdir/$name"
path=/geo_stats2.v1.GeoStats2Service/Summarize
log "mpiplug new $name"
"$bin/mpiplug" new "$name" --path "$package"
grep -qx "let defaultMPIPlugPath = \"$GEOPREDICT_ROOT\"" "$package/Package.swift" \
    && ok "the package depends on this checkout ($GEOPREDICT_ROOT) by path" \
    || fail "Package.swift does not point at $GEOPREDICT_ROOT"
for file in Package.swift README.md proto/geo_stats2/v1/geo_stats2.proto proto/generate hpc/serve hpc/test \
    Sources/GeoStats2Service/Generated/geo_stats2.pb.swift Sources/GeoStats2Service/Generated/geo_stats2.mpiplug.swift \
    Sources/GeoStats2Service/GeoStats2Handler.swift Sources/GeoStats2Service/Counters.swift \
    Sources/geo-stats2/GeoStats2Command.swift \
    Tests/GeoStats2ServiceTests/SummaryTests.swift Tests/GeoStats2ServiceTests/CountersTests.swift; do
    [ -s "$package/$file" ] || fail "$file is missing"
done
# protoc read the owner_key option through the -I to this checkout's proto/: the route is keyed.
routes_file="$package/Sources/GeoStats2Service/Generated/geo_stats2.mpiplug.swift"
if grep -q 'ownerKey: .field(\\.name)' "$routes_file" && grep -q 'context: KeyedContext' "$routes_file"; then
    ok "generated routes: Increment is keyed by name, Summarize collective"
else
    fail "the generated routes have no keyed Increment"
fi

cd "$package"
swift_plugin=""
for candidate in "$(command -v protoc-gen-swift || true)" "$GEOPREDICT_ROOT/.build-protoc-gen-swift/release/protoc-gen-swift"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { swift_plugin="$candidate"; break; }
done
if [ -n "$swift_plugin" ] && [ -x "$bin/protoc-gen-mpiplug" ]; then
    PROTOC_GEN_SWIFT="$swift_plugin" PROTOC_GEN_MPIPLUG="$bin/protoc-gen-mpiplug" proto/generate --check >/dev/null \
        && ok "proto/generate --check: the generated code matches the proto" \
        || fail "proto/generate --check found differences"
fi

log "building $name from scratch"
started=$(date +%s)
if swift build --build-tests > "$workdir/build.log" 2>&1; then
    ok "swift build --build-tests from scratch: $(( $(date +%s) - started )) s"
else
    tail -n 40 "$workdir/build.log"
    fail "swift build failed"
    echo "scaffold: failures=$failures"
    exit 1
fi
# Warnings in the package's own code (dependencies' warnings are theirs).
own_warnings=$(grep -E "^$package/(Sources|Tests)/.*warning:" "$workdir/build.log" | sort -u || true)
[ -z "$own_warnings" ] && ok "no compiler warnings in the package's code" || fail "warnings: $own_warnings"

increment_path=/geo_stats2.v1.GeoStats2Service/Increment
status_path=/mpiplug.v1.ClusterService/GetClusterStatus
# increment URL NAME AMOUNT: Increment's JSON answer (or an error body).
increment() {
    curl -sS --max-time 30 -H 'Content-Type: application/json' \
        -d "{\"name\": \"$2\", \"amount\": \"$3\"}" "$1$increment_path" || true
}
# field JSON NAME DEFAULT: a top-level field of a JSON answer; proto3 JSON leaves out zeros.
field() { jq -r --arg name "$2" --arg default "$3" '.[$name] // $default' <<< "$1" 2>/dev/null || echo "unreadable"; }
# keyed_requests STATUS RANK: GetClusterStatus's keyed_requests of one rank.
keyed_requests() { jq -r --argjson rank "$2" '.ranks[$rank].keyedRequests // "0"' <<< "$1"; }

# keyed_checks URL (2 ranks): Increment runs on the owner of each name, and only there.
keyed_checks() {
    local url="$1" before after answer status name i total owner
    before=$(curl -sS --max-time 30 -H 'Content-Type: application/json' -d '{}' "$url$status_path" || true)
    # The default owner of a key is its FNV-1a 64-bit hash modulo the ranks (KeyOwnership.hashing);
    # these owners at 2 ranks were computed from it, three names on each rank.
    local names=(apples kiwis limes berries plums grapes) owners=(0 0 1 1 0 1)
    local calls=(0 0)
    for i in "${!names[@]}"; do
        name=${names[$i]}
        local first=$((i + 1)) second=$((-(i + 1) * 100))
        answer=$(increment "$url" "$name" "$first")
        total=$(field "$answer" total 0); owner=$(field "$answer" ownerRank 0)
        [ "$total" = "$first" ] && [ "$owner" = "${owners[$i]}" ] \
            || fail "Increment $name by $first answered '$answer', expected total $first from rank ${owners[$i]}"
        answer=$(increment "$url" "$name" "$second")
        total=$(field "$answer" total 0); owner=$(field "$answer" ownerRank 0)
        [ "$total" = $((first + second)) ] && [ "$owner" = "${owners[$i]}" ] \
            || fail "Increment $name by $second answered '$answer', expected total $((first + second)) from rank ${owners[$i]}"
        calls[${owners[$i]}]=$((calls[${owners[$i]}] + 2))
    done
    # Read back after all the writes: each counter kept its own total, on its own rank.
    local read_back=0
    for i in "${!names[@]}"; do
        answer=$(increment "$url" "${names[$i]}" 0)
        total=$(field "$answer" total 0); owner=$(field "$answer" ownerRank 0)
        if [ "$total" = $(( (i + 1) - (i + 1) * 100 )) ] && [ "$owner" = "${owners[$i]}" ]; then
            read_back=$((read_back + 1))
        else
            fail "reading ${names[$i]} answered '$answer', expected total $(( (i + 1) - (i + 1) * 100 )) from rank ${owners[$i]}"
        fi
        calls[${owners[$i]}]=$((calls[${owners[$i]}] + 1))
    done
    [ "$read_back" -eq "${#names[@]}" ] && ok "Increment: ${#names[@]} counters, on ranks 0 and 1 as their names hash, read back right"

    # 20 concurrent calls on one counter of each rank: batched or not, every one is counted once.
    local pids=()
    for i in $(seq 1 20); do
        increment "$url" apples 1 > "$workdir/concurrent-apples-$i" & pids+=($!)
        increment "$url" limes 1 > "$workdir/concurrent-limes-$i" & pids+=($!)
    done
    wait "${pids[@]}"
    calls[0]=$((calls[0] + 20)); calls[1]=$((calls[1] + 20))
    local apples limes
    apples=$(field "$(increment "$url" apples 0)" total 0)
    limes=$(field "$(increment "$url" limes 0)" total 0)
    calls[0]=$((calls[0] + 1)); calls[1]=$((calls[1] + 1))
    [ "$apples" = $((1 - 100 + 20)) ] && [ "$limes" = $((3 - 300 + 20)) ] \
        && ok "20 concurrent Increments on a counter of each rank all count: apples $apples, limes $limes" \
        || fail "after 20 concurrent Increments apples is $apples (expected $((1 - 100 + 20))) and limes $limes (expected $((3 - 300 + 20)))"

    # An error made on the owner (rank 1) comes back to the client; the counter is left as it was.
    # grapes holds -594, so adding the smallest int64 overflows.
    status=$(curl -sS --max-time 30 -o "$workdir/overflow.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        -d '{"name": "grapes", "amount": "-9223372036854775808"}' "$url$increment_path" || true)
    answer=$(increment "$url" grapes 0)
    calls[1]=$((calls[1] + 2))
    [ "$status" = 400 ] && [ "$(field "$(cat "$workdir/overflow.json")" code "")" = out_of_range ] \
        && [ "$(field "$answer" total 0)" = $((6 - 600)) ] \
        && ok "an overflowing Increment on rank 1 answers 400 out_of_range and changes nothing" \
        || fail "overflowing grapes answered $status '$(cat "$workdir/overflow.json")', then '$answer'"
    # Refused by the door's validation: it never reaches an owner, so it is not counted below.
    status=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d '{"amount": "1"}' "$url$increment_path" || true)
    [ "$status" = 400 ] && ok "an Increment without a name is refused with 400" || fail "an Increment without a name answered $status"

    # Each rank ran exactly the keyed requests it owns (only the owner receives one), the door's
    # own ones took no messages, and none of them was a collective round.
    after=$(curl -sS --max-time 30 -H 'Content-Type: application/json' -d '{}' "$url$status_path" || true)
    local rank ran
    for rank in 0 1; do
        ran=$(( $(keyed_requests "$after" "$rank") - $(keyed_requests "$before" "$rank") ))
        [ "$ran" -eq "${calls[$rank]}" ] && ok "rank $rank ran $ran keyed requests: exactly those of its own counters" \
            || fail "rank $rank ran $ran keyed requests, expected ${calls[$rank]}"
    done
    local door_bytes owner_bytes rounds
    door_bytes=$(jq -r '.ranks[0].keyedBytes // "0"' <<< "$after")
    owner_bytes=$(jq -r '.ranks[1].keyedBytes // "0"' <<< "$after")
    [ "$door_bytes" = 0 ] && [ "$owner_bytes" -gt 0 ] \
        && ok "keyed bytes: rank 0 (the door) received none, rank 1 received $owner_bytes" \
        || fail "keyed bytes: rank 0 $door_bytes (expected 0), rank 1 $owner_bytes (expected > 0)"
    rounds=$(( $(jq -r '.roundsServed // "0"' <<< "$after") - $(jq -r '.roundsServed // "0"' <<< "$before") ))
    [ "$rounds" -le 1 ] && ok "the keyed calls made no collective rounds ($rounds: the status call's own)" \
        || fail "$rounds rounds ran between the two status calls, with only keyed calls between them"
}

log "serving $name under mpirun -np 2"
port=$(free_ports 1)
setsid mpirun --oversubscribe --bind-to none -np 2 .build/debug/$name serve --port "$port" > "$workdir/serve.log" 2>&1 &
job=$!
url=""
for _ in $(seq 1 600); do
    url=$(sed -n 's/.*serving.* on \(http[^ ]*\).*/\1/p' "$workdir/serve.log" | head -n 1)
    [ -n "$url" ] && break
    kill -0 "$job" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    cat "$workdir/serve.log"
    fail "$name did not start"
else
    answer=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
        -d '{"values": [5, -3, 12, 7, 0, 9, -8]}' "$url$path" || true)
    expected='{"count":"7","sum":"22","minimum":"-8","maximum":"12","rankCount":2,"valuesPerRank":["4","3"]}'
    [ "$answer" = "$expected" ] && ok "curl $path answers $answer" || fail "curl $path answered '$answer', expected '$expected'"
    code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d '{"values": ["9999999999999"]}' "$url$path" || true)
    [ "$code" = 400 ] && ok "an out-of-range value is refused with 400" || fail "an out-of-range value answered $code"
    echo_answer=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
        -d '{"message": "hi", "value": "1"}' "$url/mpiplug.v1.DiagnosticsService/Echo" || true)
    case "$echo_answer" in
        *'"rankCount":2'*'"checksum":"3"'*) ok "MPIPlug's built-in Echo is served too" ;;
        *) fail "Echo answered '$echo_answer'" ;;
    esac
    keyed_checks "$url"
    answer=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
        -d '{"values": [5, -3, 12, 7, 0, 9, -8]}' "$url$path" || true)
    [ "$answer" = "$expected" ] && ok "Summarize still answers right after the keyed calls" \
        || fail "Summarize after the keyed calls answered '$answer'"
fi
kill -KILL -- "-$job" 2>/dev/null || true
wait "$job" 2>/dev/null || true
job=""

log "the package's own hpc/test"
started=$(date +%s)
# shellcheck disable=SC2065  # hpc/test is the scaffolded package's script, not test(1)
if hpc/test --ranks "1 3" --port "$(free_ports 2)" > "$workdir/package-test.log" 2>&1; then
    ok "hpc/test of $name passed ($(( $(date +%s) - started )) s): $(grep -cE '^[[:space:]]*(✔|ok)' "$workdir/package-test.log") ok lines"
else
    tail -n 40 "$workdir/package-test.log"
    fail "hpc/test of $name failed"
fi

echo "scaffold: failures=$failures"
[ "$failures" -eq 0 ]
