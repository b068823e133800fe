#!/bin/bash
# Prepares a Debian 12 machine to run the VM lab (test/support/lab): installs the host tools and
# builds, once, the base root that every test VM overlays. Idempotent: when everything is in place
# it only checks and exits in well under a second.
#
# Environment (all optional):
#   VMSI_TEST_CACHE      cache directory (default /var/cache/vmsi-test)
#   VMSI_DEBIAN_MIRROR   Debian mirror for debootstrap (default: the first non-security one in this
#                        machine's apt sources; without either, the build stops and says so)
#   VMSI_FORCE_REBUILD=1 rebuild the base root even if its stamp matches
set -euo pipefail

# shellcheck source=scripts/lib/debian-mirror.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-mirror.sh"

# Bump when the recipe below changes in a way existing bases lack; the stamp records it, so a
# recipe change rebuilds the cache on every machine instead of silently testing an old base.
readonly RECIPE_VERSION=4
readonly SUITE=bookworm
# debootstrap does not resolve virtual packages: python3-cryptography (pulled in by cloud-init)
# needs python3-cffi-backend-api-*, which only python3-cffi-backend provides, so it is named here.
readonly INCLUDE=systemd-sysv,dbus,openssh-server,iproute2,python3,curl,openssl,iptables,ca-certificates,sudo,cloud-init,procps,python3-cffi-backend
readonly HOST_PACKAGES=(debootstrap systemd-container openssh-client iptables dpkg-dev cloud-init shellcheck iproute2 python3 util-linux openssl postgresql buildah umoci chromium fonts-dejavu-core)
readonly CACHE_DIR=${VMSI_TEST_CACHE:-/var/cache/vmsi-test}
readonly BASE_DIR=$CACHE_DIR/base-$SUITE
readonly STAMP_FILE=$BASE_DIR.stamp
readonly STAMP="recipe=$RECIPE_VERSION suite=$SUITE include=$INCLUDE"

log() { printf 'prepare-test-host: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

install_host_packages() {
  local missing=() pkg status
  for pkg in "${HOST_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == 'install ok installed' ]] || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "installing host packages: ${missing[*]}"
  keep_postgresql_default_cluster_off
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The tests start throwaway PostgreSQL clusters of their own (test/support/postgres); the Debian
# package would otherwise create and start a machine-wide one on port 5432 that nothing uses.
keep_postgresql_default_cluster_off() {
  mkdir -p /etc/postgresql-common/createcluster.d
  printf 'create_main_cluster = false\n' >/etc/postgresql-common/createcluster.d/vmsi-test.conf
}

is_base_current() {
  [[ -d $BASE_DIR && -f $STAMP_FILE ]] && [[ $(cat "$STAMP_FILE") == "$STAMP" ]]
}

# Each VM generates its own host keys at first boot. Debian's ssh.service runs `sshd -t` before
# anything a drop-in could add, so key generation is a separate unit ordered before it.
install_host_key_unit() {
  local root=$1
  cat >"$root/etc/systemd/system/vmsi-ssh-host-keys.service" <<'EOF'
[Unit]
Description=Generate this VM's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
RequiredBy=ssh.service
EOF
  chroot "$root" systemctl enable --quiet vmsi-ssh-host-keys.service ssh.service
}

# Units that wait for hardware, consoles or the network the lab deliberately does not give a VM;
# masked so a boot takes ~2 s instead of hitting their timeouts.
mask_container_units() {
  local root=$1 unit
  for unit in console-getty.service getty@.service serial-getty@.service getty.target \
    systemd-networkd-wait-online.service systemd-firstboot.service systemd-timesyncd.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
    ln -sfn /dev/null "$root/etc/systemd/system/$unit"
  done
}

# cloud-init stays off (its generator honours this file) unless a VM's overlay removes it; when on,
# it reads only the NoCloud seed and leaves networking to the lab, which sets the address itself.
# The locale is one the image has: minbase generates no en_US.UTF-8, cloud-init's default.
configure_cloud_init() {
  local root=$1
  touch "$root/etc/cloud/cloud-init.disabled"
  cat >"$root/etc/cloud/cloud.cfg.d/90-vmsi-lab.cfg" <<'EOF'
datasource_list: [NoCloud, None]
network:
  config: disabled
locale: C.UTF-8
EOF
}

create_admin_user() {
  local root=$1
  chroot "$root" useradd --create-home --shell /bin/bash vmadmin
  printf 'vmadmin ALL=(ALL) NOPASSWD:ALL\n' >"$root/etc/sudoers.d/90-vmadmin"
  chmod 0440 "$root/etc/sudoers.d/90-vmadmin"
}

customize_base() {
  local root=$1
  rm -f "$root"/etc/ssh/ssh_host_*
  rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
  # debootstrap copied this machine's resolver; the VMs have no DNS server to talk to.
  rm -f "$root/etc/resolv.conf" && : >"$root/etc/resolv.conf"
  # Each VM writes its own machine-id; an empty file here keeps the base generic.
  rm -f "$root/etc/machine-id" && : >"$root/etc/machine-id"
  chroot "$root" passwd --lock --quiet root
  install_host_key_unit "$root"
  mask_container_units "$root"
  configure_cloud_init "$root"
  create_admin_user "$root"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

build_base() {
  local mirror tmp
  mirror=$(require_mirror) || exit 1
  tmp=$BASE_DIR.building
  rm -rf "$tmp"
  log "building base root from $mirror (about a minute)"
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
    || die "debootstrap failed, see $CACHE_DIR/debootstrap.log"
  customize_base "$tmp"
  # Swap in atomically: a half-built base must never look usable to a test run.
  rm -rf "$BASE_DIR" "$STAMP_FILE"
  mv "$tmp" "$BASE_DIR"
  printf '%s' "$STAMP" >"$STAMP_FILE"
  log "base root ready at $BASE_DIR"
}

# Every VM's systemd and journald hold inotify instances, all counted against root on the host:
# at the kernel's default of 128, a few dozen VMs at once make PID 1 fail with "Too many open
# files". Raised only, never lowered, so a host tuned higher keeps its setting.
raise_inotify_limits() {
  local key want have
  for key in fs.inotify.max_user_instances:8192 fs.inotify.max_user_watches:1048576; do
    want=${key#*:}
    have=$(sysctl -n "${key%%:*}")
    ((have >= want)) || sysctl -q -w "${key%%:*}=$want"
  done
}

main() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  install_host_packages
  raise_inotify_limits
  mkdir -p "$CACHE_DIR"
  # One builder at a time; a second caller waits and then finds the stamp current.
  exec 9>"$CACHE_DIR/.lock"
  flock 9
  if [[ ${VMSI_FORCE_REBUILD:-0} != 1 ]] && is_base_current; then
    return 0
  fi
  build_base
}

main "$@"
