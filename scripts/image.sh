#!/usr/bin/env bash
# Build and inspect the sidecar image with Debian's buildah: no daemon, vfs storage, chroot isolation,
# storage under $RUN_DIR/containers (never the machine's own).
#
# Usage: scripts/image.sh COMMAND
#   base     build (once) a stand-in for node:24-bookworm-slim and print its name: Debian bookworm
#            minbase from debootstrap, the Node 24 binary the project's tests run (node_modules), npm
#            from the npm registry, a `node` user (uid 1000). No image registry is reachable here, so
#            the official image cannot be pulled; the stand-in has its layout. Cached by versions.
#   build    build the repository's Dockerfile on the stand-in (--pull=never; docker format, which keeps
#            HEALTHCHECK) and print the image name
#   buildah ARGS...   run buildah with the project's storage options (e.g. `run`, `from`, `inspect`)
#   wipe     remove the project's image storage
#
# Environment:
#   SHA_DEBIAN_MIRROR   debootstrap mirror (default: the first URIs of /etc/apt/sources.list.d/debian.sources,
#                       else http://deb.debian.org/debian)
set -euo pipefail
SHA_LOG_PREFIX=image.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

SUITE=bookworm
NPM_VERSION=11.21.2
STORE="$RUN_DIR/containers"
IMAGE=localhost/superset-ha:test
LOCK_FILE="$RUN_DIR/image.lock"

bah() {
  STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot buildah --root "$STORE/storage" --runroot "$STORE/run" "$@"
}

node_version() {
  local v
  v=$("$REPO/node_modules/.bin/node" --version) || die "no node in node_modules (run scripts/ensure-npm.sh)"
  echo "${v#v}"
}

base_name() {
  echo "localhost/superset-ha-standin-node:$(node_version)-$SUITE-slim-npm$NPM_VERSION"
}

mirror() {
  if [[ -n "${SHA_DEBIAN_MIRROR:-}" ]]; then
    echo "$SHA_DEBIAN_MIRROR"
    return
  fi
  local m
  m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
  local name work ctr node_bin
  name=$(base_name)
  if bah inspect --type image "$name" >/dev/null 2>&1; then
    echo "$name"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap missing (scripts/deploy-tools.sh installs it)"
  work=$(mktemp -d "$RUN_DIR/standin.XXXXXX")
  # shellcheck disable=SC2064  # expand now
  trap "rm -rf -- '$work'" EXIT
  log "debootstrap --variant=minbase $SUITE from $(mirror) (about a minute)"
  debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$(mirror)" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  rm -rf -- "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  # Node: the very binary the tests run; npm: from the registry, as the official image ships it.
  node_bin=$(realpath -- "$REPO/node_modules/.bin/node")
  install -m 755 -D -- "$node_bin" "$work/rootfs/usr/local/bin/node"
  (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) || die "npm pack npm@$NPM_VERSION failed"
  mkdir -p -- "$work/rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
  # The official image's node user and group (1000).
  chroot "$work/rootfs" groupadd --gid 1000 node
  chroot "$work/rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # This machine reaches the npm registry through its own CA: give the stand-in the host's bundle (the
  # official image trusts the public CAs itself).
  install -m 644 -D -- /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  ctr=$(bah from scratch)
  bah add "$ctr" "$work/rootfs.tar" / >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env "NODE_VERSION=$(node_version)" --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    --cmd node --label org.opencontainers.image.description="stand-in for node:24-$SUITE-slim (superset-ha tests)" "$ctr"
  bah commit --rm "$ctr" "$name" >/dev/null
  log "built $name"
  echo "$name"
}

case "${1:-}" in
  base)
    take_lock
    build_base
    ;;
  build)
    take_lock
    base=$(build_base)
    log "buildah bud --pull=never on $base"
    bah bud --pull=never --layers --format docker --build-arg "BASE_IMAGE=$base" -t "$IMAGE" -f "$REPO/Dockerfile" "$REPO" >&2 \
      || die "buildah bud failed"
    echo "$IMAGE"
    ;;
  buildah)
    shift
    # exec: signals sent to this script reach buildah itself
    exec env STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot buildah --root "$STORE/storage" --runroot "$STORE/run" "$@"
    ;;
  wipe)
    take_lock
    bah rm --all >/dev/null 2>&1 || true
    rm -rf -- "$STORE"
    ;;
  *)
    print_usage
    exit 2
    ;;
esac
