#!/usr/bin/env bash
# Usage: tests/deploy/harness/images.sh [--help] [base|postgres|kafka|pause|modelcast|all]...
#
# Makes the images the deployment test needs and no public registry here can give, into the
# harness's Docker engine (its data lives in $MC_DEPLOY_CACHE/docker, so they are built once):
#   base      debian:bookworm (also tagged bookworm-slim and the Debian point release, e.g.
#             12.12 / 12.12-slim): debootstrap --variant=minbase from the apt mirror, docker import
#   postgres  postgres:15, the stand-in of tests/deploy/standins/postgres
#   kafka     apache/kafka:4.1.1, the stand-in of tests/deploy/standins/kafka (jars: Maven)
#   pause     registry.k8s.io/pause:3.10 for the test cluster: a static pause FROM scratch,
#             also saved as $MC_DEPLOY_CACHE/images/pause.tar for containerd to import
#   modelcast the project's images under the tags docker-compose.yml gives them
#             (deploy/docker/Dockerfile: build, unit tests, runtime; deploy/docker/edge), built
#             ahead so that the apt downloads and the C build overlap the Go builds; the
#             scenarios' `compose up --build` then finds every layer in the build cache
# A stand-in is rebuilt only when its folder changed (a content hash in a label).
# Needs the engine: tests/deploy/harness/docker.sh start.
set -euo pipefail
# shellcheck source=tests/deploy/harness/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if h_help_requested "$@"; then
    h_usage "${BASH_SOURCE[0]}"
    exit 0
fi
eval "$("$HARNESS_DIR/docker.sh" env)"
export DOCKER_BUILDKIT=0
"$HARNESS_DIR/docker.sh" status || h_die "the harness's dockerd is not running (docker.sh start)"

STANDINS="$REPO/tests/deploy/standins"
MIRROR=${MC_DEPLOY_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
: "${MIRROR:=http://deb.debian.org/debian}"
PAUSE_IMAGE=registry.k8s.io/pause:3.10

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
label_of() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
hash_dir() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }

# The product Dockerfile pins a Debian point release (ARG DEBIAN_IMAGE=debian:12.N-slim): give
# the imported image that tag too, noting when the mirror has moved past it.
tag_pin() {
    local pin real
    pin=$(sed -n 's/^ARG DEBIAN_IMAGE=\([^@]*\).*/\1/p' "$REPO/deploy/docker/Dockerfile" | head -1)
    [[ -n $pin ]] && ! have_image "$pin" || return 0
    real=$(docker run --rm --network none "debian:$DEBIAN_SUITE" cat /etc/debian_version)
    [[ $pin == debian:$real* ]] || h_log "note: tagging Debian $real as $pin (the mirror's current point release)"
    docker tag "debian:$DEBIAN_SUITE" "$pin"
}

build_base() {
    if have_image "debian:$DEBIAN_SUITE"; then
        tag_pin
        return 0
    fi
    h_apt debootstrap
    local root="$MC_DEPLOY_CACHE/rootfs-$DEBIAN_SUITE"
    rm -rf "$root"
    h_log "debootstrap --variant=minbase $DEBIAN_SUITE from $MIRROR"
    nice -n "$MC_DEPLOY_NICE" debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$MIRROR" >"$MC_DEPLOY_CACHE/logs/debootstrap.log" 2>&1 ||
        {
            tail -20 "$MC_DEPLOY_CACHE/logs/debootstrap.log" >&2
            return 1
        }
    # The same sources the official image has: the suite, its updates and security.
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $DEBIAN_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # As the official image: no recommends, no apt caches kept in layers.
    printf 'APT::Install-Recommends "false";\n' >"$root/etc/apt/apt.conf.d/99no-recommends"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    local point
    point=$(cat "$root/etc/debian_version")
    h_log "importing debian:$DEBIAN_SUITE (Debian $point)"
    tar -C "$root" -c . | docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' \
        -m "debootstrap --variant=minbase $DEBIAN_SUITE $MIRROR" - "debian:$DEBIAN_SUITE" >/dev/null
    local t
    for t in "$DEBIAN_SUITE-slim" "$point" "$point-slim"; do docker tag "debian:$DEBIAN_SUITE" "debian:$t"; done
    rm -rf "$root"
    tag_pin
}

# build_standin TAG DIR [extra context setup function]
build_standin() {
    local tag=$1 dir=$2 prep=${3:-} ctx hash
    build_base
    ctx="$MC_DEPLOY_CACHE/build/$(basename "$dir")"
    rm -rf "$ctx" && mkdir -p "$ctx" && cp -r "$dir/." "$ctx/"
    [[ -z $prep ]] || "$prep" "$ctx"
    hash=$(hash_dir "$ctx")
    if [[ $(label_of "$tag" org.modelcast.standin-hash) == "$hash" ]]; then
        rm -rf "$ctx"
        return 0
    fi
    h_log "building $tag (stand-in, log $MC_DEPLOY_CACHE/logs/image-$(basename "$dir").log)"
    nice -n "$MC_DEPLOY_NICE" docker build --network host --label "org.modelcast.standin-hash=$hash" \
        -t "$tag" "$ctx" >"$MC_DEPLOY_CACHE/logs/image-$(basename "$dir").log" 2>&1 || {
        tail -30 "$MC_DEPLOY_CACHE/logs/image-$(basename "$dir").log" >&2
        return 1
    }
    rm -rf "$ctx"
}

kafka_libs() {
    local libs="$REPO/deploy/local/kafka-libs"
    if ! ls "$libs"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
        h_log "fetching the Kafka $KAFKA_VERSION jars (Maven, deploy/local/pom.xml)"
        mvn -q -B -Dstyle.color=never -f "$REPO/deploy/local/pom.xml" dependency:copy-dependencies
    fi
    mkdir -p "$1/libs"
    cp "$libs"/*.jar "$1/libs/"
}

pause_binary() {
    h_apt gcc libc6-dev
    gcc -Os -static -Wall -Wextra -Werror -o "$1/pause" "$1/pause.c"
    strip "$1/pause"
    rm -f "$1/pause.c"
}

build_pause() {
    build_standin "$PAUSE_IMAGE" "$STANDINS/pause" pause_binary
    mkdir -p "$MC_DEPLOY_CACHE/images"
    local tar="$MC_DEPLOY_CACHE/images/pause.tar" id
    id=$(docker image inspect -f '{{.Id}}' "$PAUSE_IMAGE")
    if [[ ! -f $tar || $(cat "$tar.id" 2>/dev/null) != "$id" ]]; then
        docker save -o "$tar" "$PAUSE_IMAGE"
        printf '%s\n' "$id" >"$tar.id"
    fi
}

# The project's images, as docker compose would build them (classic builder, host network).
build_modelcast() {
    build_base
    local tag file name
    for name in modelcast edge; do
        if [[ $name == modelcast ]]; then
            file=deploy/docker/Dockerfile
            tag=$(sed -n 's/.*\${MODELCAST_IMAGE:-\([^}]*\)}.*/\1/p' "$REPO/docker-compose.yml" | head -1)
        else
            file=deploy/docker/edge/Dockerfile
            tag=$(sed -n 's/.*\${MODELCAST_EDGE_IMAGE:-\([^}]*\)}.*/\1/p' "$REPO/docker-compose.yml" | head -1)
        fi
        [[ -n $tag ]] || h_die "no default image tag of $name in docker-compose.yml"
        h_log "building $tag ($file, log $MC_DEPLOY_CACHE/logs/image-$name.log)"
        nice -n "$MC_DEPLOY_NICE" docker build --network host -f "$REPO/$file" -t "$tag" "$REPO" \
            >"$MC_DEPLOY_CACHE/logs/image-$name.log" 2>&1 || {
            tail -30 "$MC_DEPLOY_CACHE/logs/image-$name.log" >&2
            return 1
        }
    done
}

mkdir -p "$MC_DEPLOY_CACHE/logs"
targets=("$@")
((${#targets[@]})) || targets=(all)
for t in "${targets[@]}"; do
    case $t in
    base) h_timed image-base build_base ;;
    postgres) h_timed image-postgres build_standin "postgres:$POSTGRES_MAJOR" "$STANDINS/postgres" ;;
    kafka) h_timed image-kafka build_standin "apache/kafka:$KAFKA_VERSION" "$STANDINS/kafka" kafka_libs ;;
    pause) h_timed image-pause build_pause ;;
    modelcast) h_timed image-modelcast build_modelcast ;;
    all)
        h_timed image-base build_base
        h_timed image-postgres build_standin "postgres:$POSTGRES_MAJOR" "$STANDINS/postgres"
        h_timed image-kafka build_standin "apache/kafka:$KAFKA_VERSION" "$STANDINS/kafka" kafka_libs
        h_timed image-pause build_pause
        h_timed image-modelcast build_modelcast
        ;;
    *) h_die "unknown target $t (see --help)" ;;
    esac
done
