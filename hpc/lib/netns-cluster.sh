# shellcheck shell=bash
# The NETNS_* variables are for the scripts that source this file.
# shellcheck disable=SC2034
# A pretend cluster on one machine: test hosts as network namespaces joined by veth pairs and a bridge.
# Source it (after common.sh); hpc/netns-cluster-test uses it. Needs root and iproute2.
#
#   switch namespace  <prefix>-sw : bridge "br0", one port "p<N>" per host
#   host namespaces   <prefix>-h<N>: "eth0" = 10.203.0.<N>/24 (the other end of p<N>), loopback up
#
# Why the bridge lives in its own namespace rather than the root one: the test then adds nothing to
# the machine's own network (no interface, route or address appears in the root namespace, so it
# cannot clash with Docker bridges or the host firewall, whose FORWARD policy often drops bridged
# traffic), and deleting the namespaces is all the clean-up there is — a veth goes away with either
# of its ends. The 10.203.0.0/24 range exists only inside these namespaces.
#
# Each test host also gets its own hostname ("h<N>") through a new UTS namespace per command (see
# netns_exec), so MPI_Get_processor_name and OpenMPI's node names differ from host to host, as on a
# real cluster, and OpenMPI's per-node session directories in /tmp do not collide.

NETNS_SUBNET_PREFIX="10.203.0"
NETNS_SUBNET="${NETNS_SUBNET_PREFIX}.0/24"
# Namespace names carry the creating process's pid so that a leftover of a killed run can be told
# from a run in progress (netns_remove_stale).
NETNS_PREFIX="hpcnt-$$"
NETNS_HOST_COUNT=0
NETNS_RSH_AGENT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns-rsh"

netns_switch() { echo "${NETNS_PREFIX}-sw"; }
netns_host() { echo "${NETNS_PREFIX}-h$1"; }
netns_address() { echo "${NETNS_SUBNET_PREFIX}.$1"; }

# Whether this process may create network namespaces (root, and not forbidden by a sandbox).
# skip_unless_netns NAME (with checks.sh sourced): ends the test NAME with SKIPPED unless it runs as root where network
# namespaces may be made (not in an unprivileged container); installs ip and unshare if missing.
skip_unless_netns() {
    local name="$1"
    skip_unless_root "$name" "create network namespaces"
    command -v ip >/dev/null && command -v unshare >/dev/null || ensure_packages iproute2 util-linux
    netns_permitted && return 0
    echo "$name: SKIPPED ('ip netns add' is not permitted here: no CAP_SYS_ADMIN/CAP_NET_ADMIN, e.g. an unprivileged container)"
    exit 0
}

netns_permitted() {
    [ "$(id -u)" -eq 0 ] || return 1
    command -v ip >/dev/null || return 1
    local probe="hpcnt-probe-$$"
    ip netns add "$probe" 2>/dev/null || return 1
    ip netns exec "$probe" true 2>/dev/null && ip netns delete "$probe" 2>/dev/null
}

# Deletes the namespaces of earlier runs whose process is gone (a run killed with SIGKILL cannot clean up).
netns_remove_stale() {
    local name pid
    for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^hpcnt-[0-9]+-' || true); do
        pid="${name#hpcnt-}"
        pid="${pid%%-*}"
        if ! kill -0 "$pid" 2>/dev/null; then
            log "removing namespace $name left by an earlier run (pid $pid is gone)"
            netns_kill_all "$name"
            ip netns delete "$name" 2>/dev/null || true
        fi
    done
}

# Creates the switch and COUNT hosts; writes the rsh agent's host map to $NETNS_MAP.
# Usage: netns_up COUNT MAP_FILE
netns_up() {
    local count="$1"
    NETNS_MAP="$2"
    export NETNS_MAP
    NETNS_HOST_COUNT="$count"
    local switch
    switch="$(netns_switch)"
    ip netns add "$switch"
    ip -n "$switch" link set lo up
    ip -n "$switch" link add br0 type bridge
    ip -n "$switch" link set br0 up
    : > "$NETNS_MAP"
    local n host
    for n in $(seq 1 "$count"); do
        host="$(netns_host "$n")"
        ip netns add "$host"
        ip -n "$host" link set lo up
        # Both ends are created straight inside their namespaces: nothing touches the root namespace.
        ip -n "$host" link add eth0 type veth peer name "p$n" netns "$switch"
        ip -n "$switch" link set "p$n" master br0
        ip -n "$switch" link set "p$n" up
        ip -n "$host" addr add "$(netns_address "$n")/24" dev eth0
        ip -n "$host" link set eth0 up
        # Address, test hostname, namespace: what the rsh agent needs to find a host.
        printf '%s h%s %s\n' "$(netns_address "$n")" "$n" "$host" >> "$NETNS_MAP"
    done
    # Wait until every port forwards (the bridge may hold new ports in a learning state briefly).
    local waited=0
    while [ "$waited" -lt 50 ]; do
        if ! ip -n "$switch" -o link show master br0 | grep -qv 'state UP'; then
            return 0
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "error: the bridge ports did not come up" >&2
    ip -n "$switch" link show >&2
    return 1
}

# Runs a command on test host N: inside its network namespace, with hostname h<N>.
# Usage: netns_exec N COMMAND [ARGS...]
netns_exec() {
    local n="$1"
    shift
    ip netns exec "$(netns_host "$n")" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "h$n" "$@"
}

# Cuts host N off the network: its switch port goes down, so its packets are dropped without any
# reset or error — the way a failed cable or switch port looks to the other hosts.
netns_cut() {
    ip -n "$(netns_switch)" link set "p$1" down
}

# Brings host N's switch port back up (after netns_cut) and waits until it forwards again.
netns_restore() {
    local waited=0
    ip -n "$(netns_switch)" link set "p$1" up
    while [ "$waited" -lt 50 ]; do
        ip -n "$(netns_switch)" -o link show "p$1" | grep -q 'state UP' && return 0
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "error: port p$1 did not come back up" >&2
    return 1
}

# Bytes the switch forwarded from host N (received on its port).
netns_bytes_from() {
    ip netns exec "$(netns_switch)" cat "/sys/class/net/p$1/statistics/rx_bytes"
}

# SIGKILLs every process in namespace NAME (only processes this test started run there).
netns_kill_all() {
    local pids
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

# Removes every namespace of this run (and so every veth and the bridge). Idempotent.
netns_down() {
    local name
    for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NETNS_PREFIX}-" || true); do
        netns_kill_all "$name"
    done
    # Killed processes need a moment to leave the namespace before it can be fully released.
    sleep 0.2
    for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NETNS_PREFIX}-" || true); do
        ip netns delete "$name" 2>/dev/null || true
    done
}

# Whether anything of this run is left (namespaces).
netns_leftovers() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NETNS_PREFIX}-" || true
}
