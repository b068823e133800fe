# shellcheck shell=bash
# Sourced by scripts/prepare-test-host.sh and scripts/build-dist.sh: the Debian mirror debootstrap
# uses. VMSI_DEBIAN_MIRROR wins; otherwise the mirror this machine's apt already reaches (deb822 or
# one-line format), so a build works behind the same proxy or snapshot setup; security and
# third-party repositories are skipped.
find_mirror() {
  if [[ -n ${VMSI_DEBIAN_MIRROR:-} ]]; then printf '%s\n' "$VMSI_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ' || true)
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}
