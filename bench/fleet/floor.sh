#!/bin/bash
# floor.sh PLAN KNOWN_HOSTS PRIVATE_KEY
# The floor: for each "ADDRESS TARFILE" line of PLAN, one OpenSSH connection that streams the
# bundle as tar into the install script, all VMs at once; exits non-zero if any VM failed.
# The script's output comes back over the connection, as it does to the product, and is dropped.
# Static: addresses and paths arrive as data, and the remote command is a fixed string.
set -u
plan=$1 known_hosts=$2 key=$3
# The $d are for the VM's shell, hence single quotes.
# shellcheck disable=SC2016
remote='sudo -n -- sh -c '\''set -eu; umask 077; d=/run/vmsi-floor; rm -rf -- "$d"; mkdir -p -- "$d"; tar -x --no-same-owner -C "$d"; bash "$d/install-sidecar.sh" install "$d"; rm -rf -- "$d"'\'''
pids=()
while read -r address bundle; do
  ssh -F none -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$known_hosts" \
    -o IdentitiesOnly=yes -o ConnectTimeout=30 -i "$key" "vmadmin@$address" "$remote" <"$bundle" >/dev/null &
  pids+=("$!")
done <"$plan"
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
if ((failed > 0)); then
  echo "floor: $failed of ${#pids[@]} VMs failed" >&2
  exit 1
fi
