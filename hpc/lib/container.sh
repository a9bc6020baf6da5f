# shellcheck shell=bash
# The container image's scripts share this (hpc/container, hpc/tests/container.sh,
# hpc/container-cluster-test). Source it after common.sh. It is the ONE place that knows this host's
# container quirks, so that a machine without them changes only this file.

# Image name and the tag of a build: the git version (`git describe`: a tag if there is one, else the
# commit, "-dirty" when the work tree has changes), so that every build of a commit has the same tag.
GEOPREDICT_IMAGE_NAME="${GEOPREDICT_IMAGE_NAME:-localhost/geopredict}"

image_version() {
    local version
    version=$(git -C "$GEOPREDICT_ROOT" describe --tags --always --dirty 2>/dev/null) || version="unknown"
    # A tag without a release tag is a bare commit: say so in the tag.
    [[ "$version" =~ ^[0-9a-f]{7,}(-dirty)?$ ]] && version="g$version"
    echo "$version"
}

# Options every `podman run`/`podman create` needs on this machine kind:
# - --runtime runc: crun refuses this host's hybrid cgroups; runc runs containers on them.
# - explicit, lower ulimits: podman copies the caller's limits into the container and raising them is
#   not permitted here, so a container start fails unless the limits are given and within the host's.
#   With 4096 descriptors the image's entry point lowers the front door's --max-connections (default
#   10,000) to half the limit, as the default is half the usual 20,000.
GEOPREDICT_PODMAN_RUN_OPTIONS=(--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
# OpenMPI's shared-memory transport copies between ranks with process_vm_readv (CMA) by default,
# which a container's default seccomp/ptrace rules refuse (ranks die with "Read -1, expected …,
# errno = 1"); copying through the shared segment instead costs nothing measurable at our message
# sizes. Set in the image's environment, so that every run of it has it.
# shellcheck disable=SC2034 # for the scripts that source this file
GEOPREDICT_IMAGE_MPI_ENV=(OMPI_MCA_btl_vader_single_copy_mechanism=none)

# podman run with this host's options; same arguments as `podman run`.
podman_run() { podman run "${GEOPREDICT_PODMAN_RUN_OPTIONS[@]}" "$@"; }
# podman create with this host's options (a container started later with `podman start`).
podman_create() { podman create "${GEOPREDICT_PODMAN_RUN_OPTIONS[@]}" "$@"; }

# The Debian release this machine runs (bookworm): the image is built from the same release, so the
# copied Swift binaries find the libraries they were linked against.
debian_codename() {
    # shellcheck disable=SC1091 # the machine's own file
    (. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
}

# The Debian archives this machine's apt reads, as "URI SUITE COMPONENTS" lines, for the suites of
# release $1 (bookworm, bookworm-updates, bookworm-security) — from both the one-line format
# (sources.list, *.list) and deb822 (*.sources). The image is bootstrapped from the same archives, so
# it is built from whatever mirror (or proxy, or snapshot) this machine is set up for; no mirror is
# named here. Disabled files (other suffixes) and "deb-src" entries are ignored.
debian_archives() {
    local codename="$1" file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        # deb [options] URI SUITE COMPONENT...
        sed -E 's/#.*//; s/\[[^]]*\]//' "$file" | awk -v codename="$codename" '
            $1 == "deb" && ($3 == codename || index($3, codename "-") == 1) {
                line = $2 " " $3; for (i = 4; i <= NF; i++) line = line " " $i; print line }'
    done
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        # Paragraphs of "Field: value" lines; a blank line ends one.
        awk -v codename="$codename" '
            function flush(   n, u, s, uris, suites) {
                if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                    n = split(uri, uris, " "); split(suite, suites, " ")
                    for (u = 1; u <= n; u++) for (s in suites)
                        if (suites[s] == codename || index(suites[s], codename "-") == 1)
                            print uris[u] " " suites[s] " " components
                }
                types = uri = suite = components = ""; enabled = "yes"
            }
            BEGIN { enabled = "yes" }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { field = tolower($1); sub(/:$/, "", field); $1 = ""; sub(/^ +/, "")
              if (field == "types") types = $0; else if (field == "uris") uri = $0
              else if (field == "suites") suite = $0; else if (field == "components") components = $0
              else if (field == "enabled") enabled = tolower($0) }
            END { flush() }' "$file"
    done
}

# The archive debootstrap reads release $1 from: the first of the machine's archives carrying the
# release itself (not -updates or -security).
debian_mirror() {
    local codename="$1" mirror
    mirror=$(debian_archives "$codename" | awk -v codename="$codename" '$2 == codename { print $1; exit }')
    [ -n "$mirror" ] || { echo "error: no Debian archive for $codename in /etc/apt/sources.list{,.d/*} (the image is built from the machine's own apt sources)" >&2; return 1; }
    echo "$mirror"
}
