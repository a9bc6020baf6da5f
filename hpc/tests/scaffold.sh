#!/usr/bin/env bash
# `mpiplug new`, end to end: scaffolds a service package into a temporary folder, checks that its
# generated code matches its proto, builds it from scratch once (`swift build --build-tests`, its own
# .build; dependencies resolve from SwiftPM's cache when it has them), serves it under mpirun -np 2,
# calls its method with curl and checks the answer, then runs the package's own hpc/test (swift test
# and its live checks at 1 and 3 ranks), whose build step then has nothing left to compile.
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
ensure_packages protobuf-compiler libprotobuf-dev curl
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
    Sources/GeoStats2Service/GeoStats2Handler.swift Sources/geo-stats2/GeoStats2Command.swift \
    Tests/GeoStats2ServiceTests/SummaryTests.swift; do
    [ -s "$package/$file" ] || fail "$file is missing"
done

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

log "serving $name under mpirun -np 2"
setsid mpirun --oversubscribe --bind-to none -np 2 .build/debug/$name serve --port 0 > "$workdir/serve.log" 2>&1 &
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
fi
kill -KILL -- "-$job" 2>/dev/null || true
wait "$job" 2>/dev/null || true
job=""

log "the package's own hpc/test"
started=$(date +%s)
# shellcheck disable=SC2065  # hpc/test is the scaffolded package's script, not test(1)
if hpc/test --ranks "1 3" > "$workdir/package-test.log" 2>&1; then
    ok "hpc/test of $name passed ($(( $(date +%s) - started )) s): $(grep -cE '^[[:space:]]*(✔|ok)' "$workdir/package-test.log") ok lines"
else
    tail -n 40 "$workdir/package-test.log"
    fail "hpc/test of $name failed"
fi

echo "scaffold: failures=$failures"
[ "$failures" -eq 0 ]
