#!/bin/bash
# Prepares a Debian 12 machine to run the VM lab (test/support/lab): installs the host tools and
# builds, once, the base root that every test VM overlays. Idempotent: when everything is in place
# it only checks and exits in well under a second.
#
# Environment (all optional):
#   VMSI_TEST_CACHE      cache directory (default /var/cache/vmsi-test)
#   VMSI_DEBIAN_MIRROR   Debian mirror for debootstrap (default: the one this machine's apt uses)
#   VMSI_FORCE_REBUILD=1 rebuild the base root even if its stamp matches
set -euo pipefail

# Bump when the recipe below changes in a way existing bases lack; the stamp records it, so a
# recipe change rebuilds the cache on every machine instead of silently testing an old base.
readonly RECIPE_VERSION=4
readonly SUITE=bookworm
# debootstrap does not resolve virtual packages: python3-cryptography (pulled in by cloud-init)
# needs python3-cffi-backend-api-*, which only python3-cffi-backend provides, so it is named here.
readonly INCLUDE=systemd-sysv,dbus,openssh-server,iproute2,python3,curl,openssl,iptables,ca-certificates,sudo,cloud-init,procps,python3-cffi-backend
readonly HOST_PACKAGES=(debootstrap systemd-container openssh-client iptables dpkg-dev cloud-init shellcheck iproute2 python3 util-linux chromium fonts-dejavu-core)
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
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The mirror this machine's apt already reaches (deb822 or one-line format), so the base build
# works behind the same proxy or snapshot setup; security and third-party repositories are skipped.
find_mirror() {
  if [[ -n ${VMSI_DEBIAN_MIRROR:-} ]]; then printf '%s\n' "$VMSI_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ' || true)
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
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
  mirror=$(find_mirror)
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

main() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  install_host_packages
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
