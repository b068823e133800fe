# shellcheck shell=bash
# Sourced by scripts/prepare-test-host.sh and scripts/build-dist.sh: the Debian mirror debootstrap
# uses. VMSI_DEBIAN_MIRROR wins; otherwise the first one this machine's apt already reaches, so a
# build works behind the same proxy or snapshot setup. There is no built-in fallback: a machine
# whose apt names no Debian archive must say which one to use (require_mirror says so).
apt_source_uris() {
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -r $file ]] || continue
    # deb822: "URIs: A [B …]"; one-line: "deb [options] URI suite …" (options in brackets skipped).
    sed -nE -e 's/^[[:space:]]*URIs:[[:space:]]*//Ip' \
      -e 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' "$file"
  done | tr ' ' '\n' | grep -E '^(https?|file)://' | grep -v -i security || true
}

# The mirror: VMSI_DEBIAN_MIRROR, else the first one apt reaches, else a stop naming the variable.
require_mirror() {
  local mirror=${VMSI_DEBIAN_MIRROR:-}
  [[ -n $mirror ]] || mirror=$(apt_source_uris | head -n 1)
  if [[ -z $mirror ]]; then
    printf "error: this machine's apt sources name no Debian archive to build from; set VMSI_DEBIAN_MIRROR to one (e.g. VMSI_DEBIAN_MIRROR=http://<your mirror>/debian)\n" >&2
    return 1
  fi
  printf '%s\n' "$mirror"
}
