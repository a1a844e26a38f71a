#!/usr/bin/env bash
# Build (once) the Kubernetes control-plane tools the deploy tests run, from the Go module proxy:
# kube-apiserver, kube-controller-manager and kube-scheduler, kwok (fake nodes), controller-gen and
# the prometheus-operator CRDs (ServiceMonitor, PrometheusRule, ...) generated from its Go types.
#
# Usage: scripts/kube-build.sh [print-dir]
#   (no argument)  build what is missing, print the cache directory
#   print-dir      print the cache directory only (no build)
#
# `go install k8s.io/kubernetes/cmd/...` does not work: k8s.io/kubernetes's go.mod requires its staging
# modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and replaces them with local directories. A
# throwaway module requiring k8s.io/kubernetes and replacing each staging module with the matching
# published v0.X.Y builds it. The result is cached in a directory keyed by every version below, so a
# second run is a no-op; Go's own build and module caches make a rebuild after a version bump cheaper.
#
# Environment:
#   SHA_KUBE_CACHE   cache root (default $RUN_DIR/cache); binaries in $SHA_KUBE_CACHE/kube-<versions>/bin
#   SHA_GO           the go binary (default: go on PATH, else /usr/local/go/bin/go); needs go >= 1.26
set -euo pipefail
SHA_LOG_PREFIX=kube-build.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

K8S_VERSION=v1.37.2
KWOK_VERSION=v0.8.0
CONTROLLER_GEN_VERSION=v0.23.0
PROM_OPERATOR_VERSION=v0.95.2

CACHE_ROOT="$(realpath -m -- "${SHA_KUBE_CACHE:-$RUN_DIR/cache}")"
DIR="$CACHE_ROOT/kube-$K8S_VERSION-kwok-$KWOK_VERSION-cg-$CONTROLLER_GEN_VERSION-po-$PROM_OPERATOR_VERSION"

if [[ "${1:-}" == print-dir ]]; then
  echo "$DIR"
  exit 0
fi
[[ $# -eq 0 ]] || { print_usage; exit 2; }

GO=${SHA_GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x "$GO" ]] || die "no go toolchain (set SHA_GO, or install Go >= 1.26 to /usr/local/go)"

done_marker="$DIR/.complete"
if [[ -f "$done_marker" ]]; then
  echo "$DIR"
  exit 0
fi

LOCK_FILE="$CACHE_ROOT/kube-build.lock"
LOCK_WAIT_S=3600 take_lock
if [[ -f "$done_marker" ]]; then   # another run finished it while we waited
  echo "$DIR"
  exit 0
fi

mkdir -p -- "$DIR/bin" "$DIR/src"
export GOFLAGS="${GOFLAGS:-} -mod=mod" GOTOOLCHAIN=local

# 1. kube-apiserver, kube-controller-manager, kube-scheduler
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler)
need=0
for b in "${k8s_bins[@]}"; do [[ -x "$DIR/bin/$b" ]] || need=1; done
if ((need)); then
  mod="$DIR/src/k8s"
  mkdir -p -- "$mod"
  log "fetching k8s.io/kubernetes@$K8S_VERSION's go.mod"
  gomod=$(cd "$mod" && "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
  staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module sha-kube-build"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    # every staging module the kubernetes go.mod pins at v0.0.0 -> the published matching version
    awk '$2 == "v0.0.0" && $1 ~ /^k8s\.io\// { print "\t" $1 " => " $1 " '"$staging_version"'" }' "$gomod" | sort -u
    echo ")"
  } >"$mod/go.mod"
  printf 'package main\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n' >"$mod/tools.go"
  (cd "$mod" && "$GO" mod tidy >&2) || die "go mod tidy failed for the kube build module"
  vpkg=k8s.io/component-base/version
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor"
  ldflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  for b in "${k8s_bins[@]}"; do
    [[ -x "$DIR/bin/$b" ]] && continue
    log "building $b $K8S_VERSION (cold: several minutes)"
    (cd "$mod" && "$GO" build -trimpath -ldflags "$ldflags" -o "$DIR/bin/$b.tmp" "k8s.io/kubernetes/cmd/$b" >&2) \
      || die "go build $b failed"
    mv -f -- "$DIR/bin/$b.tmp" "$DIR/bin/$b"
  done
fi

# 2. kwok and controller-gen, plain go install
if [[ ! -x "$DIR/bin/kwok" ]]; then
  log "building kwok $KWOK_VERSION"
  GOBIN="$DIR/bin" "$GO" install -trimpath "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2 || die "go install kwok failed"
fi
if [[ ! -x "$DIR/bin/controller-gen" ]]; then
  log "building controller-gen $CONTROLLER_GEN_VERSION"
  GOBIN="$DIR/bin" "$GO" install -trimpath "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION" >&2 \
    || die "go install controller-gen failed"
fi

# 3. kwok's stage definitions (a node becomes Ready, pods become Running / complete / deleted), copied
# from the kwok module so the cluster does not depend on a network fetch at start time.
kwok_mod=$("$GO" mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[[ -d "$kwok_mod" ]] || die "could not locate the kwok module source"
mkdir -p -- "$DIR/kwok-stages"
for s in node/fast/node-initialize pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
  cp -f -- "$kwok_mod/kustomize/stage/$s.yaml" "$DIR/kwok-stages/$(basename -- "$s").yaml"
done

# 4. prometheus-operator CRDs from its Go types
if [[ ! -s "$DIR/crds/monitoring.coreos.com_prometheusrules.yaml" ]]; then
  log "generating prometheus-operator $PROM_OPERATOR_VERSION CRDs with controller-gen"
  mod="$DIR/src/crds"
  mkdir -p -- "$mod"
  pkg=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
  printf 'module sha-crds\n\ngo 1.26.0\n\nrequire %s %s\n' "$pkg" "$PROM_OPERATOR_VERSION" >"$mod/go.mod"
  printf 'package crds\n\nimport _ "%s/v1"\n' "$pkg" >"$mod/tools.go"
  (cd "$mod" && "$GO" mod tidy >&2 && PATH="$("$GO" env GOROOT)/bin:$PATH" "$DIR/bin/controller-gen" \
    crd:crdVersions=v1,maxDescLen=0 "paths=$pkg/v1" "output:crd:dir=$DIR/crds.tmp" >&2) \
    || die "controller-gen failed"
  rm -rf -- "$DIR/crds"
  mv -- "$DIR/crds.tmp" "$DIR/crds"
fi

touch -- "$done_marker"
log "built into $DIR"
echo "$DIR"
