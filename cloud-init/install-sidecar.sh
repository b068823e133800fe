#!/usr/bin/env bash
# install-sidecar.sh: puts the Istio sidecar on this VM from an injection bundle, or takes it off.
#
#   install-sidecar.sh install|remove|csr [BUNDLE_DIR]  (BUNDLE_DIR defaults to this script's folder)
#
# The script is static and audited; everything variable is data in the bundle
# (docs/bundle-contract.md). No bundle file is ever sourced or eval'd: injector.env is read line by
# line against a whitelist of keys, and cluster.env, mesh.yaml, the root certificate and the token
# are only checked and copied. Progress goes to stdout as `vmsi: <step>: ...`; the last line is
#   VMSI-RESULT {"status":"...","changed":...,"spiffeId":"...","reason":"..."}
# A failed install undoes what that run did; `remove` undoes the whole recorded install.
set -Eeuo pipefail
shopt -s inherit_errexit
# Parsing of command output (ss, iptables, df, dpkg) must not depend on the caller's locale.
export LC_ALL=C
# Whatever the script creates for itself (work dir, state, backups) is root-only; everything it
# places for Istio gets an explicit owner and mode through install(1).
umask 077
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

readonly RESULT_PREFIX='VMSI-RESULT'
readonly HOSTS_TAG='# vm-sidecar-injector'
readonly STATE_DIR=/var/lib/vm-sidecar-injector
readonly WORK_ROOT=/run
readonly STATE_FILE=$STATE_DIR/state.env
readonly BACKUP_DIR=$STATE_DIR/backup
readonly OWNERS_FILE=$STATE_DIR/owners.list
readonly LOCK_FILE=/run/vm-sidecar-injector.lock
readonly LOCK_WAIT_SECONDS=600
readonly SERVICE=istio
readonly ISTIO_USER=istio-proxy
readonly ISTIO_GROUP=istio-proxy
readonly ETC_ISTIO=/etc/istio
readonly DEFAULT_READY_TIMEOUT_SECONDS=120
readonly DEFAULT_MIN_FREE_MB=512
readonly DEFAULT_STATUS_PORT=15021
readonly DOWNLOAD_CONNECT_TIMEOUT_SECONDS=10
readonly DOWNLOAD_MAX_SECONDS=900
readonly DOWNLOAD_RETRIES=3
readonly PROBE_MAX_SECONDS=2

# Envoy admin, outbound capture, inbound capture, agent status, health, Envoy metrics: what the
# sidecar binds. (DNS capture's 15053 is left out: it is bound only when DNS capture is on.)
readonly ISTIO_PORTS=(15000 15001 15006 15020 15021 15090)
# The directories Istio's VM guide hands to istio-proxy (`chown -R istio-proxy ...`).
readonly ISTIO_OWNED_DIRS=(/var/lib/istio /etc/certs /etc/istio/proxy /etc/istio/config /var/run/secrets)
# Every directory the package's postinst or this script may create; undo removes the ones that
# did not exist before. /etc/istio/* may be reached through the postinst's /etc/istio link.
readonly KNOWN_DIRS=(/etc/istio /etc/istio/config /etc/istio/proxy /etc/certs /var/lib/istio
  /var/lib/istio/envoy /var/lib/istio/config /var/lib/istio/proxy /var/log/istio
  /var/run/secrets /var/run/secrets/tokens)
# Istio's chains live in nat (REDIRECT) and mangle (TPROXY), and DNS capture uses raw (conntrack
# zones): any ISTIO_ chain in them is a sidecar's.
readonly IPTABLES_TABLES=(nat mangle raw)

# Bundle file -> where Istio's VM guide puts it, and its mode. The token is a bearer credential for
# istiod's CA: 0400 and owned by istio-proxy, so only the agent (and root) can read it.
# certificates=token: pilot-agent gets its certificate with the bootstrap token.
readonly TOKEN_MODE_SOURCES=(cluster.env mesh.yaml root-cert.pem istio-token)
readonly TOKEN_MODE_DESTS=(/var/lib/istio/envoy/cluster.env /etc/istio/config/mesh
  /etc/certs/root-cert.pem /var/run/secrets/tokens/istio-token)
readonly TOKEN_MODE_MODES=(0644 0644 0644 0400)
# certificates=istio-ca: the chain signed for this VM's CSR and the key made here by `csr`; the
# agent serves them as file-mounted certificates (docs/istio-ca.md) and no token is written.
readonly CA_MODE_SOURCES=(cluster.env mesh.yaml root-cert.pem cert-chain.pem key.pem)
readonly CA_MODE_DESTS=(/var/lib/istio/envoy/cluster.env /etc/istio/config/mesh
  /etc/certs/root-cert.pem /etc/certs/cert-chain.pem /etc/certs/key.pem)
readonly CA_MODE_MODES=(0644 0644 0644 0644 0600)
# Every file an install of either mode may have recorded, for reading state.env.
readonly KNOWN_MANAGED_DESTS=("${TOKEN_MODE_DESTS[@]}" /etc/certs/cert-chain.pem /etc/certs/key.pem)
readonly PENDING_KEY_DIR=$STATE_DIR/pending
readonly PENDING_KEY=$PENDING_KEY_DIR/key.pem
readonly CSR_PREFIX='VMSI-CSR'

readonly STATE_SCALAR_KEYS=(SPIFFE_ID PACKAGE_FORMAT PACKAGE_NAME PACKAGE_VERSION PACKAGE_SHA256
  PACKAGE_INSTALLED USER_CREATED GROUP_CREATED ETC_ISTIO_LINK_CREATED SERVICE_ENABLED SSH_GUARD_ADDED)

# Istio excludes inbound port 22 from capture, but not the replies sshd sends. A session opened
# before the kernel tracked connections (nothing used netfilter yet) looks new to conntrack once
# istio's nat rules appear, so its next reply is redirected to :15001 and the session is reset:
# the very session running this install, or the one an operator needs to repair a bad rollout.
# This rule, first in nat OUTPUT, lets sshd's traffic bypass the capture.
readonly SSH_GUARD_RULE=(-p tcp --sport 22 -m comment --comment vm-sidecar-injector-ssh-guard -j RETURN)

readonly SHA256_RE='^[0-9a-f]{64}$'
readonly SPIFFE_RE='^spiffe://[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)+$'
readonly URL_RE='^https?://[^[:space:]]+$'
readonly FILE_NAME_RE='^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$'
readonly PACKAGE_NAME_RE='^[A-Za-z0-9][A-Za-z0-9+._-]*$'
readonly IPV4_RE='^([0-9]{1,3}\.){3}[0-9]{1,3}$'
readonly IPV6_RE='^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$'
readonly HOSTNAME_RE='^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$'
readonly PACKAGE_DIR_RE='^[0-7]{3,4} [0-9]+:[0-9]+ (/[A-Za-z0-9._+@-]+)+$'
# istio-start.sh sources cluster.env as root, so every line must be a plain assignment whose value
# is either safe bare characters or single-quoted (shellescape's '"'"' for embedded quotes).
readonly SQ="'" DQ='"'
readonly CLUSTER_ENV_LINE_RE="^[A-Za-z_][A-Za-z0-9_]*=(${SQ}[^${SQ}]*${SQ}|[\\]${SQ}|${DQ}${SQ}${DQ}|[A-Za-z0-9_@%+=:,./-])*\$"

# awk: true when a line carries our hosts tag at its end.
readonly AWK_TAGGED='function tagged(line) { return substr(line, length(line) - length(tag)) == " " tag }'

COMMAND=''
BUNDLE_DIR=''
MANAGED_SOURCES=()
MANAGED_DESTS=()
MANAGED_MODES=()
STEP=start
REASON=''
RESULT_EMITTED=0
WORK_DIR=''
IS_RERUN=0
CHANGED=0
ROLLBACK_ARMED=0
declare -A CFG=()
declare -A ST=()
ST_FILES=()
ST_DIRS=()
ST_HOSTS=()
ST_PACKAGE_DIRS=()
HOSTS_WANTED=()
PKG_NAME=''
PKG_VERSION=''
PKG_PATH=''
# What the VM looked like when this run started to change it.
BEFORE_PKG_VERSION=''
BEFORE_USER=0
BEFORE_GROUP=0
BEFORE_ETC_ISTIO=0
BEFORE_ENABLED=0
BEFORE_ACTIVE=0
BEFORE_STATE=0
BEFORE_DIRS=()
# What this run did, for its own rollback.
RUN_FILES=()
RUN_DIRS=()
RUN_PACKAGE_DIRS=()
RUN_PKG_INSTALLED=0
RUN_PKG_UPGRADED=0
RUN_ENABLED=0
RUN_STARTED=0
RUN_RESTARTED=0
RUN_HOSTS_WRITTEN=0
RUN_SSH_GUARD_ADDED=0
UNDO_FAILURES=()

# ---------------------------------------------------------------------------------------------
# Output

log() { printf 'vmsi: %s: %s\n' "$STEP" "$*"; }

warn() { printf 'vmsi: %s: warning: %s\n' "$STEP" "$*"; }

fail() {
  REASON="$STEP: $*"
  exit 1
}

# JSON string body: escape backslash and quote; anything outside printable ASCII becomes a space,
# which also keeps the reason on one line.
json_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//[^[:print:]]/ }
  printf '%s' "$s"
}

emit_result() {
  local status=$1 changed=$2 reason=$3 spiffe_id=${CFG[EXPECTED_SPIFFE_ID]:-${ST[SPIFFE_ID]:-}}
  printf '%s {"status":"%s","changed":%s,"spiffeId":"%s","reason":"%s"}\n' "$RESULT_PREFIX" \
    "$status" "$changed" "$(json_escape "$spiffe_id")" "$(json_escape "$reason")"
  RESULT_EMITTED=1
}

# A URL may carry credentials or a signed query; log only scheme, host and path.
redact_url() {
  local url=${1%%\?*}
  if [[ $url =~ ^(https?://)[^/@]*@(.*)$ ]]; then
    url=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
  fi
  printf '%s' "$url"
}

# ---------------------------------------------------------------------------------------------
# Traps: any failure after the VM started to change rolls this run back, then reports.

on_error() {
  if [[ -z $REASON ]]; then
    REASON="$STEP: '$3' failed with exit code $1 (line $2)"
  fi
}

on_signal() {
  REASON="$STEP: interrupted by a signal"
  exit 130
}

on_exit() {
  local rc=$?
  trap - ERR
  trap '' INT TERM HUP
  set +e
  if ((rc != 0 && RESULT_EMITTED == 0)); then
    report_failure "$rc"
  fi
  if [[ -n $WORK_DIR ]]; then
    rm -rf -- "$WORK_DIR"
  fi
  exit "$rc"
}

report_failure() {
  local changed=false reason=${REASON:-$STEP: failed with exit code $1}
  if ((ROLLBACK_ARMED == 1)); then
    rollback_run
  fi
  if ((${#UNDO_FAILURES[@]} > 0)); then
    changed=true
    reason+="; rollback incomplete: ${UNDO_FAILURES[*]}"
  fi
  if ((RUN_PKG_UPGRADED == 1)); then
    changed=true
    reason+="; $PKG_NAME stays upgraded to $PKG_VERSION (a package cannot be downgraded here)"
  fi
  emit_result failed "$changed" "$reason"
}

# Runs one undo step in a subshell with errexit on, so one failing step neither stops the undo
# nor goes unnoticed.
undo_step() {
  local rc errexit=0
  if [[ $- == *e* ]]; then errexit=1; fi
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  if ((errexit == 1)); then set -e; fi
  if ((rc != 0)); then
    UNDO_FAILURES+=("$1")
    warn "$1 failed (exit $rc)"
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# Small queries

has_command() { command -v "$1" >/dev/null 2>&1; }

path_exists() { [[ -e $1 || -L $1 ]]; }

in_list() {
  local needle=$1 item
  shift
  for item in "$@"; do
    if [[ $item == "$needle" ]]; then return 0; fi
  done
  return 1
}

user_exists() { getent passwd "$ISTIO_USER" >/dev/null; }

group_exists() { getent group "$ISTIO_GROUP" >/dev/null; }

service_is_active() { systemctl is-active --quiet "$SERVICE"; }

service_is_enabled() { [[ $(systemctl is-enabled "$SERVICE" 2>/dev/null) == enabled ]]; }

package_format() { printf '%s' "${CFG[PACKAGE_FORMAT]:-${ST[PACKAGE_FORMAT]:-}}"; }

# Prints the installed version of package $1, or nothing when it is not (fully) installed. The
# selection (install, hold, deinstall) does not matter: a held package is installed all the same.
installed_version() {
  local selection flag status version
  case $(package_format) in
    deb)
      read -r selection flag status version < <(dpkg-query --show \
        --showformat="\${Status} \${Version}\n" "$1" 2>/dev/null || true) || true
      if [[ -n ${selection:-} && ${flag:-} == ok && ${status:-} == installed ]]; then
        printf '%s' "$version"
      fi
      ;;
    rpm)
      if rpm --query --quiet "$1"; then
        rpm --query --queryformat '%{VERSION}-%{RELEASE}' "$1"
      fi
      ;;
  esac
}

# Listening TCP ports, one per line: from ss when present, else from /proc/net/tcp{,6}.
listening_ports() {
  if has_command ss; then
    ss -ltn | awk 'NR > 1 { n = split($4, a, ":"); print a[n] }'
    return 0
  fi
  local file hex
  for file in /proc/net/tcp /proc/net/tcp6; do
    if [[ ! -r $file ]]; then continue; fi
    while read -r hex; do
      printf '%d\n' "$((16#$hex))"
    done < <(awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' "$file")
  done
}

istio_chains() {
  "$1" -t "$2" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^ISTIO_/ { print $2 }' || true
}

is_istio_owned() {
  local dir
  for dir in "${ISTIO_OWNED_DIRS[@]}"; do
    if [[ $1 == "$dir" || $1 == "$dir"/* ]]; then return 0; fi
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# Reading the bundle and the state: data only, never shell

parse_args() {
  COMMAND=${1:-}
  if [[ $COMMAND != install && $COMMAND != remove && $COMMAND != csr ]] || (($# > 2)); then
    STEP=usage
    REASON='usage: install-sidecar.sh install|remove|csr [BUNDLE_DIR]'
    exit 2
  fi
  BUNDLE_DIR=${2:-$(dirname -- "${BASH_SOURCE[0]}")}
}

is_injector_key() {
  case $1 in
    VMSI_FORMAT | PACKAGE_FILE | PACKAGE_URL | PACKAGE_SHA256 | PACKAGE_FORMAT | \
      READY_TIMEOUT_SECONDS | MIN_FREE_MB | EXPECTED_SPIFFE_ID | STATUS_PORT | CERTIFICATES) return 0 ;;
    *) return 1 ;;
  esac
}

load_injector_env() {
  local file=$BUNDLE_DIR/injector.env line key n=0
  require_bundle_file injector.env
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    if [[ -z $line ]]; then continue; fi
    if [[ $line != *=* ]]; then fail "injector.env line $n is not KEY=value"; fi
    key=${line%%=*}
    is_injector_key "$key" || fail "injector.env line $n: unknown key '$key'"
    if [[ -n ${CFG[$key]+set} ]]; then fail "injector.env line $n: duplicate key $key"; fi
    CFG[$key]=${line#*=}
  done <"$file"
}

require_match() {
  [[ ${CFG[$1]:-} =~ $2 ]] || fail "injector.env: $1 $3"
}

set_default() {
  if [[ -z ${CFG[$1]:-} ]]; then CFG[$1]=$2; fi
}

validate_injector_env() {
  require_match VMSI_FORMAT '^1$' 'must be 1'
  require_match PACKAGE_SHA256 "$SHA256_RE" 'must be 64 lowercase hex digits'
  require_match PACKAGE_FORMAT '^(deb|rpm)$' 'must be deb or rpm'
  require_match EXPECTED_SPIFFE_ID "$SPIFFE_RE" 'must be spiffe://<trust domain>/ns/<ns>/sa/<sa>'
  set_default PACKAGE_FILE ''
  set_default PACKAGE_URL ''
  set_default READY_TIMEOUT_SECONDS "$DEFAULT_READY_TIMEOUT_SECONDS"
  set_default MIN_FREE_MB "$DEFAULT_MIN_FREE_MB"
  set_default STATUS_PORT "$DEFAULT_STATUS_PORT"
  set_default CERTIFICATES token
  require_match CERTIFICATES '^(token|istio-ca)$' 'must be token or istio-ca'
  require_match READY_TIMEOUT_SECONDS '^[1-9][0-9]{0,4}$' 'must be a whole number of seconds'
  require_match MIN_FREE_MB '^[0-9]{1,7}$' 'must be a whole number of megabytes'
  require_match STATUS_PORT '^[1-9][0-9]{0,4}$' 'must be a TCP port'
  ((CFG[STATUS_PORT] <= 65535)) || fail 'injector.env: STATUS_PORT must be a TCP port'
  if [[ -n ${CFG[PACKAGE_FILE]:-} ]]; then
    require_match PACKAGE_FILE "$FILE_NAME_RE" 'must be a file name inside the bundle'
  else
    require_match PACKAGE_URL "$URL_RE" 'must be an http(s) URL when PACKAGE_FILE is empty'
  fi
}

is_state_key() { in_list "$1" "${STATE_SCALAR_KEYS[@]}"; }

# state.env is ours, but its paths drive rm and cp: accept only the paths this script manages.
load_state_line() {
  local key=$1 value=$2 n=$3
  case $key in
    VMSI_STATE_FORMAT) [[ $value == 1 ]] || fail "state.env: unsupported format '$value'" ;;
    FILE)
      in_list "$value" "${KNOWN_MANAGED_DESTS[@]}" || fail "state.env line $n: unexpected file $value"
      ST_FILES+=("$value")
      ;;
    DIR)
      in_list "$value" "${KNOWN_DIRS[@]}" || fail "state.env line $n: unexpected directory $value"
      ST_DIRS+=("$value")
      ;;
    HOSTS_LINE) ST_HOSTS+=("$value") ;;
    PACKAGE_DIR)
      [[ $value =~ $PACKAGE_DIR_RE && $value != *'/..'* ]] || fail "state.env line $n: malformed PACKAGE_DIR"
      ST_PACKAGE_DIRS+=("$value")
      ;;
    *)
      is_state_key "$key" || fail "state.env line $n: unknown key '$key'"
      ST[$key]=$value
      ;;
  esac
}

load_state() {
  local line n=0
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    if [[ -z $line ]]; then continue; fi
    load_state_line "${line%%=*}" "${line#*=}" "$n"
  done <"$STATE_FILE"
}

load_state_if_present() {
  if [[ -f $STATE_FILE ]]; then
    IS_RERUN=1
    load_state
    log "found the record of an earlier install (re-run)"
  fi
}

render_state() {
  local key item
  printf 'VMSI_STATE_FORMAT=1\n'
  for key in "${STATE_SCALAR_KEYS[@]}"; do
    printf '%s=%s\n' "$key" "${ST[$key]:-}"
  done
  for item in "${ST_FILES[@]}"; do printf 'FILE=%s\n' "$item"; done
  for item in "${ST_DIRS[@]}"; do printf 'DIR=%s\n' "$item"; done
  for item in "${ST_HOSTS[@]}"; do printf 'HOSTS_LINE=%s\n' "$item"; done
  for item in "${ST_PACKAGE_DIRS[@]}"; do printf 'PACKAGE_DIR=%s\n' "$item"; done
}

ensure_state_dir() {
  if [[ ! -d $STATE_DIR ]]; then
    install -d -o root -g root -m 0700 "$STATE_DIR"
  fi
}

# Written after every recorded action, so a run killed halfway still leaves what `remove` needs.
# Rewritten only when its content changes (a no-op re-run touches nothing).
save_state() {
  local rendered=$WORK_DIR/state.env tmp
  render_state >"$rendered"
  if cmp -s -- "$rendered" "$STATE_FILE"; then return 0; fi
  ensure_state_dir
  tmp=$(mktemp "$STATE_DIR/.state.env.XXXXXX")
  cat -- "$rendered" >"$tmp"
  mv -fT -- "$tmp" "$STATE_FILE"
}

# ---------------------------------------------------------------------------------------------
# Preflight: read-only checks, each failing with a one-line reason

require_root() {
  [[ $(id -u) == 0 ]] || fail 'must run as root'
}

acquire_lock() {
  has_command flock || fail 'flock is missing'
  exec 9>"$LOCK_FILE"
  flock -w "$LOCK_WAIT_SECONDS" 9 || fail "another install-sidecar.sh run holds $LOCK_FILE"
}

# On /run, like the bundle: it holds backups of the token and keys, which must not reach disk, and
# systemd never unmounts /run at shutdown, while /tmp may go first and take the undo data with it.
# A run killed with SIGKILL leaves its directory behind; the next run (holding the lock) removes it.
make_work_dir() {
  local stale
  for stale in "$WORK_ROOT"/vmsi-work.*; do
    if [[ -d $stale && ! -L $stale && -O $stale ]]; then rm -rf -- "$stale"; fi
  done
  WORK_DIR=$(mktemp -d "$WORK_ROOT/vmsi-work.XXXXXX")
}

# Root runs files from this directory: nobody else may be able to swap them underneath.
check_bundle_dir() {
  local uid mode
  [[ -d $BUNDLE_DIR ]] || fail "bundle directory $BUNDLE_DIR does not exist"
  BUNDLE_DIR=$(cd -P -- "$BUNDLE_DIR" && pwd -P)
  read -r uid mode < <(stat -c '%u %a' -- "$BUNDLE_DIR")
  [[ $uid == 0 ]] || fail "bundle directory $BUNDLE_DIR is not owned by root"
  (((8#$mode & 8#022) == 0)) || fail "bundle directory $BUNDLE_DIR is writable by others than root"
}

require_bundle_file() {
  local file=$BUNDLE_DIR/$1
  [[ -f $file && ! -L $file ]] || fail "$1 is missing from the bundle (or is not a regular file)"
}

select_managed_files() {
  if [[ ${CFG[CERTIFICATES]} == istio-ca ]]; then
    MANAGED_SOURCES=("${CA_MODE_SOURCES[@]}")
    MANAGED_DESTS=("${CA_MODE_DESTS[@]}")
    MANAGED_MODES=("${CA_MODE_MODES[@]}")
  else
    MANAGED_SOURCES=("${TOKEN_MODE_SOURCES[@]}")
    MANAGED_DESTS=("${TOKEN_MODE_DESTS[@]}")
    MANAGED_MODES=("${TOKEN_MODE_MODES[@]}")
  fi
}

# The key `csr` left joins the bundle (root-only, removed with it) so that it is laid down like
# every other file. It must belong to the signed certificate, and the certificate must carry the
# identity this install expects: a mix-up between two runs is caught here, before anything changes.
stage_private_key() {
  local leaf=$WORK_DIR/leaf.pem
  [[ -f $PENDING_KEY && ! -L $PENDING_KEY ]] || fail 'no private key is waiting from a csr run (run csr first)'
  install -m 0600 -- "$PENDING_KEY" "$BUNDLE_DIR/key.pem"
  require_bundle_file cert-chain.pem
  openssl x509 -in "$BUNDLE_DIR/cert-chain.pem" -out "$leaf" 2>/dev/null || fail 'cert-chain.pem holds no PEM certificate'
  [[ $(openssl x509 -in "$leaf" -noout -pubkey) == "$(openssl pkey -in "$BUNDLE_DIR/key.pem" -pubout)" ]] ||
    fail "cert-chain.pem was not issued for this VM's private key"
  openssl x509 -in "$leaf" -noout -ext subjectAltName | tail -n +2 | tr ',' '\n' | tr -d ' ' |
    grep -qxF -- "URI:${CFG[EXPECTED_SPIFFE_ID]}" ||
    fail "cert-chain.pem does not carry ${CFG[EXPECTED_SPIFFE_ID]}"
}

check_bundle_files() {
  local name
  if [[ ${CFG[CERTIFICATES]} == istio-ca ]]; then stage_private_key; fi
  for name in "${MANAGED_SOURCES[@]}"; do
    require_bundle_file "$name"
    [[ -s $BUNDLE_DIR/$name ]] || fail "$name in the bundle is empty"
  done
  grep -q -- '-----BEGIN CERTIFICATE-----' "$BUNDLE_DIR/root-cert.pem" ||
    fail 'root-cert.pem holds no PEM certificate'
  if [[ -n ${CFG[PACKAGE_FILE]} ]]; then
    require_bundle_file "${CFG[PACKAGE_FILE]}"
  fi
  if path_exists "$BUNDLE_DIR/hosts"; then
    require_bundle_file hosts
  fi
}

# cluster.env is data for us, but istio-start.sh sources it as root: accept plain assignments only.
# Port 22 must stay in ISTIO_LOCAL_EXCLUDE_PORTS (as istioctl writes it) so that inbound SSH is never
# captured: a broken rollout must not cut the path used to repair or remove it.
check_cluster_env() {
  local line n=0 excludes=''
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    if [[ -z $line || $line == \#* ]]; then continue; fi
    [[ $line =~ $CLUSTER_ENV_LINE_RE ]] ||
      fail "cluster.env line $n is not a plain KEY='value' assignment (istio-start.sh sources it)"
    if [[ $line == ISTIO_LOCAL_EXCLUDE_PORTS=* ]]; then excludes=${line#*=}; fi
  done <"$BUNDLE_DIR/cluster.env"
  excludes=${excludes//$SQ/}
  [[ ,$excludes, == *,22,* ]] ||
    fail 'cluster.env: ISTIO_LOCAL_EXCLUDE_PORTS must include 22 so SSH is never captured'
}

# Lesson from Istio users: a gateway known only by hostname once produced an empty hosts line.
# Every line must be "<ip> <host>", or the install stops before touching anything.
check_hosts_line() {
  local n=$1 ip=$2 host=$3 extra=$4 wanted
  [[ $ip =~ $IPV4_RE || $ip =~ $IPV6_RE ]] ||
    fail "hosts line $n: '$ip' is not an IP address (resolve the gateway first)"
  [[ -n $host && -z $extra ]] || fail "hosts line $n: expected '<ip> <host>'"
  [[ $host =~ $HOSTNAME_RE ]] || fail "hosts line $n: '$host' is not a host name"
  for wanted in "${HOSTS_WANTED[@]}"; do
    if [[ ${wanted#* } == "$host" ]]; then fail "hosts line $n: $host is listed twice"; fi
  done
}

load_hosts_wanted() {
  local file=$BUNDLE_DIR/hosts line ip host extra n=0
  if ! path_exists "$file"; then return 0; fi
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    read -r ip host extra <<<"$line" || true
    if [[ -z ${ip:-} || $ip == \#* ]]; then continue; fi
    check_hosts_line "$n" "$ip" "${host:-}" "${extra:-}"
    HOSTS_WANTED+=("$ip $host")
  done <"$file"
  if ((${#HOSTS_WANTED[@]} > 0)) && [[ ! -f /etc/hosts ]]; then
    fail '/etc/hosts is missing'
  fi
}

# deb or rpm, from ID and ID_LIKE in /etc/os-release (read as data, not sourced).
os_package_format() {
  local line key value word ids=() words=()
  [[ -r /etc/os-release ]] || return 1
  while IFS= read -r line || [[ -n $line ]]; do
    key=${line%%=*}
    value=${line#*=}
    if [[ $key == ID || $key == ID_LIKE ]]; then
      read -ra words <<<"${value//[\"\']/}"
      ids+=("${words[@]}")
    fi
  done </etc/os-release
  for word in "${ids[@]}"; do
    case $word in
      debian | ubuntu) printf deb && return 0 ;;
      rhel | fedora | centos | rocky | almalinux) printf rpm && return 0 ;;
    esac
  done
  return 1
}

check_os_family() {
  local family
  family=$(os_package_format) || fail 'unsupported OS: /etc/os-release names neither a Debian nor a RHEL family'
  [[ $family == "${CFG[PACKAGE_FORMAT]}" ]] ||
    fail "PACKAGE_FORMAT is ${CFG[PACKAGE_FORMAT]} but this VM installs $family packages"
}

check_tools() {
  local tool tools=(systemctl curl sha256sum install getent awk find stat cmp df mktemp iptables
    userdel groupdel)
  case ${CFG[PACKAGE_FORMAT]} in
    deb) tools+=(dpkg dpkg-deb dpkg-query) ;;
    rpm) tools+=(rpm) ;;
  esac
  for tool in "${tools[@]}"; do
    has_command "$tool" || fail "required command '$tool' is missing"
  done
}

check_iptables() {
  iptables -t nat -S >/dev/null 2>&1 ||
    fail 'iptables does not work here (iptables -t nat -S failed); the sidecar could not capture traffic'
}

# Chains left by an earlier sidecar would send traffic to a proxy that is not there.
check_stale_chains() {
  local tool table chains
  if ((IS_RERUN == 1)); then return 0; fi
  for tool in iptables ip6tables; do
    if ! has_command "$tool"; then continue; fi
    for table in "${IPTABLES_TABLES[@]}"; do
      chains=$(istio_chains "$tool" "$table")
      [[ -z $chains ]] || fail "stale ISTIO_ chains in $tool table $table from an earlier sidecar; remove them first"
    done
  done
}

check_ports() {
  local port busy ports=("${ISTIO_PORTS[@]}")
  if ((IS_RERUN == 1)) && service_is_active; then
    log "istio is ours and active; its ports are not checked"
    return 0
  fi
  if ! in_list "${CFG[STATUS_PORT]}" "${ports[@]}"; then ports+=("${CFG[STATUS_PORT]}"); fi
  busy=$(listening_ports)
  for port in "${ports[@]}"; do
    if grep -qx -- "$port" <<<"$busy"; then fail "port $port is already in use"; fi
  done
}

check_disk_space() {
  local dir free min=${CFG[MIN_FREE_MB]}
  for dir in /var /usr; do
    free=$(df -Pk -- "$dir" | awk 'NR == 2 { print int($4 / 1024) }')
    ((free >= min)) || fail "only $free MB free under $dir; need $min MB"
  done
}

preflight() {
  check_bundle_files
  check_cluster_env
  load_hosts_wanted
  check_os_family
  check_tools
  check_iptables
  check_stale_chains
  check_ports
  check_disk_space
  log "ok ($(os_package_format) family, bundle complete, ports and iptables ready)"
}

# ---------------------------------------------------------------------------------------------
# Package: fetched and verified before anything on the VM changes

# On a re-run whose package (same sha256) is already installed, nothing is fetched: once istio runs,
# DNS and egress go through the mesh, and a no-op re-run must not depend on them.
package_matches_state() {
  [[ ${ST[PACKAGE_SHA256]:-} == "${CFG[PACKAGE_SHA256]}" && -n ${ST[PACKAGE_NAME]:-} ]] || return 1
  [[ $(installed_version "${ST[PACKAGE_NAME]}") == "${ST[PACKAGE_VERSION]:-}" ]]
}

download_package() {
  log "downloading $(redact_url "${CFG[PACKAGE_URL]}")"
  curl --fail --silent --show-error --location \
    --proto '=http,https' --proto-redir '=http,https' \
    --connect-timeout "$DOWNLOAD_CONNECT_TIMEOUT_SECONDS" --max-time "$DOWNLOAD_MAX_SECONDS" \
    --retry "$DOWNLOAD_RETRIES" --retry-delay 2 --retry-connrefused \
    --output "$PKG_PATH" -- "${CFG[PACKAGE_URL]}" ||
    fail "download of $(redact_url "${CFG[PACKAGE_URL]}") failed (curl exit $?)"
}

verify_checksum() {
  local actual
  actual=$(sha256sum -- "$PKG_PATH" | awk '{ print $1 }')
  [[ $actual == "${CFG[PACKAGE_SHA256]}" ]] ||
    fail "package sha256 is $actual, expected ${CFG[PACKAGE_SHA256]}; nothing was changed"
  log 'sha256 verified'
}

read_package_identity() {
  case ${CFG[PACKAGE_FORMAT]} in
    deb)
      PKG_NAME=$(dpkg-deb --field "$PKG_PATH" Package)
      PKG_VERSION=$(dpkg-deb --field "$PKG_PATH" Version)
      ;;
    rpm)
      PKG_NAME=$(rpm --query --package --nosignature --queryformat '%{NAME}' "$PKG_PATH")
      PKG_VERSION=$(rpm --query --package --nosignature --queryformat '%{VERSION}-%{RELEASE}' "$PKG_PATH")
      ;;
  esac
  [[ $PKG_NAME =~ $PACKAGE_NAME_RE && -n $PKG_VERSION ]] || fail 'cannot read the package name and version'
}

# The package is copied or downloaded into the root-only work dir, and installed from that copy:
# what was verified is what gets installed.
prepare_package() {
  if package_matches_state; then
    PKG_NAME=${ST[PACKAGE_NAME]}
    PKG_VERSION=${ST[PACKAGE_VERSION]}
    log "$PKG_NAME $PKG_VERSION with this sha256 is installed; nothing to fetch"
    return 0
  fi
  PKG_PATH=$WORK_DIR/package.${CFG[PACKAGE_FORMAT]}
  if [[ -n ${CFG[PACKAGE_FILE]} ]]; then
    cp -- "$BUNDLE_DIR/${CFG[PACKAGE_FILE]}" "$PKG_PATH"
    log "using ${CFG[PACKAGE_FILE]} from the bundle"
  else
    download_package
  fi
  verify_checksum
  read_package_identity
  log "$PKG_NAME $PKG_VERSION"
}

# Directories the package lists, as "<path>" lines: dpkg (and rpm, for the ones it owns) deletes
# them on purge once empty, even when they existed before, like an empty /usr/local/bin.
package_listed_dirs() {
  case ${CFG[PACKAGE_FORMAT]} in
    deb)
      dpkg-deb --contents "$PKG_PATH" |
        awk '$1 ~ /^d/ { p = $6; sub(/^\./, "", p); sub(/\/$/, "", p); if (p != "") print p }'
      ;;
    rpm) rpm --query --package --list --nosignature "$PKG_PATH" ;;
  esac
}

# Records owner and mode of the listed directories that exist before the package goes in, so that
# undo can recreate the ones a purge takes away.
record_package_dirs() {
  local dir entry
  while IFS= read -r dir; do
    if [[ ! -d $dir || -L $dir ]]; then continue; fi
    entry="$(stat -c '%a %u:%g' -- "$dir") $dir"
    [[ $entry =~ $PACKAGE_DIR_RE ]] || continue
    RUN_PACKAGE_DIRS+=("$entry")
    if ! in_list "$entry" "${ST_PACKAGE_DIRS[@]}"; then ST_PACKAGE_DIRS+=("$entry"); fi
  done < <(package_listed_dirs)
}

# Replacing a package someone else installed could not be undone: refuse instead.
check_installed_package() {
  local installed
  installed=$(installed_version "$PKG_NAME")
  if [[ -n $installed && $installed != "$PKG_VERSION" && ${ST[PACKAGE_INSTALLED]:-0} != 1 ]]; then
    fail "$PKG_NAME $installed is installed, not by vm-sidecar-injector; refusing to replace it with $PKG_VERSION"
  fi
}

run_package_install() {
  case ${CFG[PACKAGE_FORMAT]} in
    deb)
      DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold --install "$PKG_PATH" </dev/null ||
        fail "dpkg could not install $PKG_NAME $PKG_VERSION"
      ;;
    rpm)
      rpm --upgrade --replacepkgs "$PKG_PATH" </dev/null || fail "rpm could not install $PKG_NAME $PKG_VERSION"
      ;;
  esac
}

# The package's postinst creates istio-proxy and the /etc/istio link only when they are absent, so
# what is absent now is ours once the package is in. Recorded before dpkg/rpm runs, so that a run
# killed halfway still leaves `remove` what it needs (each removal checks what exists), and settled
# once the package is in.
expect_package_side_effects() {
  if ((BEFORE_USER == 0)); then ST[USER_CREATED]=1; fi
  if ((BEFORE_GROUP == 0)); then ST[GROUP_CREATED]=1; fi
  if ((BEFORE_ETC_ISTIO == 0)); then ST[ETC_ISTIO_LINK_CREATED]=1; fi
}

settle_package_side_effects() {
  if ((BEFORE_USER == 0)) && ! user_exists; then ST[USER_CREATED]=0; fi
  if ((BEFORE_GROUP == 0)) && ! group_exists; then ST[GROUP_CREATED]=0; fi
  if ((BEFORE_ETC_ISTIO == 0)) && [[ ! -L $ETC_ISTIO ]]; then ST[ETC_ISTIO_LINK_CREATED]=0; fi
  note_created_dirs
}

# Installed before any file is written and long before istio starts: once istio runs, DNS capture
# takes port 53 over and egress goes through Envoy, so everything is downloaded and installed first.
install_package() {
  if [[ $BEFORE_PKG_VERSION == "$PKG_VERSION" ]]; then
    log "$PKG_NAME $PKG_VERSION is already installed"
  else
    if [[ -z $BEFORE_PKG_VERSION ]]; then
      RUN_PKG_INSTALLED=1
      ST[PACKAGE_INSTALLED]=1
    else
      RUN_PKG_UPGRADED=1
    fi
    ST[PACKAGE_NAME]=$PKG_NAME
    record_package_dirs
    expect_package_side_effects
    save_state
    CHANGED=1
    log "installing $PKG_NAME $PKG_VERSION"
    run_package_install
    systemctl daemon-reload
    settle_package_side_effects
  fi
  ST[PACKAGE_NAME]=$PKG_NAME
  ST[PACKAGE_VERSION]=$PKG_VERSION
  ST[PACKAGE_SHA256]=${CFG[PACKAGE_SHA256]}
  save_state
}

# ---------------------------------------------------------------------------------------------
# Files in Istio's documented places

# Copies path into the backup tree rooted at $1, keeping owner, mode and times.
backup_to() {
  local root=$1 path=$2
  mkdir -p -- "$root$(dirname -- "$path")"
  cp -a -- "$path" "$root$path"
}

# Takes the before-images of the managed files (for this run's rollback and, the first time, for
# `remove`) before the package's postinst or this script can touch them.
register_managed_files() {
  local dest
  for dest in "${MANAGED_DESTS[@]}"; do
    if path_exists "$dest"; then backup_to "$WORK_DIR/run-backup" "$dest"; fi
    RUN_FILES+=("$dest")
    if ! in_list "$dest" "${ST_FILES[@]}"; then
      if path_exists "$dest"; then backup_to "$BACKUP_DIR" "$dest"; fi
      ST_FILES+=("$dest")
    fi
  done
  save_state
}

existing_known_dirs() {
  local dir
  for dir in "${KNOWN_DIRS[@]}"; do
    if [[ -d $dir ]]; then readlink -f -- "$dir"; fi
  done
}

# A known directory is ours when its real path did not exist before this run. The /etc/istio link is
# accounted for separately (ETC_ISTIO_LINK_CREATED).
note_created_dirs() {
  local dir
  for dir in "${KNOWN_DIRS[@]}"; do
    if [[ ! -d $dir || -L $dir ]] || in_list "$(readlink -f -- "$dir")" "${BEFORE_DIRS[@]}"; then continue; fi
    if ! in_list "$dir" "${RUN_DIRS[@]}"; then RUN_DIRS+=("$dir"); fi
    if ! in_list "$dir" "${ST_DIRS[@]}"; then ST_DIRS+=("$dir"); fi
  done
}

snapshot_state_dir() {
  if [[ -d $STATE_DIR ]]; then
    BEFORE_STATE=1
    cp -a -- "$STATE_DIR" "$WORK_DIR/state-before"
  fi
}

# From here on every change is recorded, and a failure rolls this run back.
begin_changes() {
  BEFORE_PKG_VERSION=$(installed_version "$PKG_NAME")
  if user_exists; then BEFORE_USER=1; fi
  if group_exists; then BEFORE_GROUP=1; fi
  if path_exists "$ETC_ISTIO"; then BEFORE_ETC_ISTIO=1; fi
  if service_is_enabled; then BEFORE_ENABLED=1; fi
  if service_is_active; then BEFORE_ACTIVE=1; fi
  mapfile -t BEFORE_DIRS < <(existing_known_dirs)
  snapshot_state_dir
  ROLLBACK_ARMED=1
  ST[SPIFFE_ID]=${CFG[EXPECTED_SPIFFE_ID]}
  ST[PACKAGE_FORMAT]=${CFG[PACKAGE_FORMAT]}
  register_managed_files
}

# Creates the missing parts of a directory path; parts inside Istio's directories go to istio-proxy.
ensure_dir() {
  local path='' part owner group parts=()
  IFS=/ read -ra parts <<<"${1#/}"
  for part in "${parts[@]}"; do
    path+=/$part
    if [[ -d $path ]]; then continue; fi
    owner=root group=root
    if is_istio_owned "$path"; then owner=$ISTIO_USER group=$ISTIO_GROUP; fi
    install -d -o "$owner" -g "$group" -m 0755 -- "$path"
    CHANGED=1
    log "created $path"
  done
}

file_is_current() {
  local src=$1 dest=$2 mode=$3
  [[ -f $dest && ! -L $dest ]] || return 1
  [[ $(stat -c '%U:%G %a' -- "$dest") == "$ISTIO_USER:$ISTIO_GROUP ${mode#0}" ]] || return 1
  cmp -s -- "$src" "$dest"
}

# Written only when content, owner or mode differ; replaced by rename so that no reader ever sees
# half a file.
put_file() {
  local src=$BUNDLE_DIR/$1 dest=$2 mode=$3 tmp
  if file_is_current "$src" "$dest" "$mode"; then return 0; fi
  tmp=$(mktemp -- "$dest.vmsi.XXXXXX")
  if ! install -o "$ISTIO_USER" -g "$ISTIO_GROUP" -m "$mode" -- "$src" "$tmp" || ! mv -fT -- "$tmp" "$dest"; then
    rm -f -- "$tmp"
    fail "could not write $dest"
  fi
  CHANGED=1
  log "wrote $dest (mode $mode)"
}

# Istio's VM guide: `chown -R istio-proxy` its directories after copying the files. Done only on a
# run that laid files or the package down; the previous owners are kept so undo can give them back.
take_ownership_of_istio_dirs() {
  local dir dirs=() found=$WORK_DIR/owners.found owner path
  for dir in "${ISTIO_OWNED_DIRS[@]}"; do
    if [[ -d $dir ]]; then dirs+=("$dir"); fi
  done
  if ((${#dirs[@]} == 0)); then return 0; fi
  find "${dirs[@]}" ! -user "$ISTIO_USER" -printf '%U:%G\0%p\0' >"$found"
  if [[ ! -s $found ]]; then return 0; fi
  cat -- "$found" >>"$WORK_DIR/owners.list"
  ensure_state_dir
  cat -- "$found" >>"$OWNERS_FILE"
  while IFS= read -r -d '' owner && IFS= read -r -d '' path; do
    chown -h -- "$ISTIO_USER" "$path"
  done <"$found"
  CHANGED=1
  log "gave Istio's directories to $ISTIO_USER"
}

install_istio_files() {
  local i
  user_exists || fail "user $ISTIO_USER does not exist (the package's postinst creates it)"
  for i in "${!MANAGED_DESTS[@]}"; do
    ensure_dir "$(dirname -- "${MANAGED_DESTS[i]}")"
  done
  ensure_dir /etc/istio/proxy
  note_created_dirs
  save_state
  for i in "${!MANAGED_DESTS[@]}"; do
    put_file "${MANAGED_SOURCES[i]}" "${MANAGED_DESTS[i]}" "${MANAGED_MODES[i]}"
  done
  if ((CHANGED == 1)); then take_ownership_of_istio_dirs; fi
}

# ---------------------------------------------------------------------------------------------
# /etc/hosts

# Replaces /etc/hosts by rename of a complete temporary copy, so a failure cannot leave it
# truncated. Where /etc/hosts is a bind mount (some containers) rename fails; then copy in place.
replace_hosts_file() {
  local new=$1 target tmp
  target=$(readlink -f /etc/hosts)
  tmp=$(mktemp -- "$target.vmsi.XXXXXX")
  cat -- "$new" >"$tmp"
  chown --reference="$target" -- "$tmp"
  chmod --reference="$target" -- "$tmp"
  if ! mv -fT -- "$tmp" "$target" 2>/dev/null; then
    cat -- "$tmp" >"$target"
    rm -f -- "$tmp"
  fi
  if has_command restorecon; then restorecon -- "$target" || true; fi
}

# Merges the wanted "<ip> <host>" lines (file $1) into a hosts file ($2): an identical tagged line
# stays where it is, other tagged lines for a wanted host go, missing lines are appended.
merge_hosts_lines() {
  awk -v tag="$HOSTS_TAG" "$AWK_TAGGED"'
    FILENAME == ARGV[1] { want[$2] = $1 " " $2 " " tag; order[++n] = $2; next }
    tagged($0) && ($2 in want) { if (!($2 in kept) && $0 == want[$2]) { kept[$2] = 1; print }; next }
    { print }
    END { for (i = 1; i <= n; i++) if (!(order[i] in kept)) print want[order[i]] }' "$1" "$2"
}

# Drops the tagged lines of hosts file $2 that are not in file $1.
drop_new_tagged_lines() {
  awk -v tag="$HOSTS_TAG" "$AWK_TAGGED"'
    FILENAME == ARGV[1] { keep[$0] = 1; next }
    !tagged($0) || ($0 in keep)' "$1" "$2"
}

drop_tagged_lines() {
  awk -v tag="$HOSTS_TAG" "$AWK_TAGGED"' !tagged($0)' "$1"
}

record_hosts_lines() {
  local wanted recorded kept=()
  for recorded in "${ST_HOSTS[@]}"; do
    for wanted in "${HOSTS_WANTED[@]}"; do
      if [[ ${wanted#* } == "${recorded#* }" ]]; then continue 2; fi
    done
    kept+=("$recorded")
  done
  ST_HOSTS=("${kept[@]}" "${HOSTS_WANTED[@]}")
  save_state
}

update_hosts() {
  local target new=$WORK_DIR/hosts.new
  if ((${#HOSTS_WANTED[@]} == 0)); then
    log 'no hosts lines in the bundle'
    return 0
  fi
  target=$(readlink -f /etc/hosts)
  printf '%s\n' "${HOSTS_WANTED[@]}" >"$WORK_DIR/hosts.wanted"
  merge_hosts_lines "$WORK_DIR/hosts.wanted" "$target" >"$new"
  record_hosts_lines
  if cmp -s -- "$new" "$target"; then
    log 'hosts lines already in place'
    return 0
  fi
  cp -p -- "$target" "$WORK_DIR/hosts.before"
  cp -- "$new" "$WORK_DIR/hosts.written"
  RUN_HOSTS_WRITTEN=1
  replace_hosts_file "$new"
  CHANGED=1
  log "wrote ${#HOSTS_WANTED[@]} tagged line(s) to /etc/hosts"
}

# ---------------------------------------------------------------------------------------------
# Service and readiness

start_istio() {
  local restart_needed=$CHANGED
  if ((BEFORE_ENABLED == 0)); then
    RUN_ENABLED=1
    ST[SERVICE_ENABLED]=1
    save_state
    systemctl enable "$SERVICE" || fail "systemctl enable $SERVICE failed"
    CHANGED=1
    log "enabled $SERVICE"
  fi
  if ((BEFORE_ACTIVE == 0)); then
    RUN_STARTED=1
    systemctl start "$SERVICE" || fail "systemctl start $SERVICE failed"
    CHANGED=1
    log "started $SERVICE"
  elif ((restart_needed == 1)); then
    RUN_RESTARTED=1
    systemctl restart "$SERVICE" || fail "systemctl restart $SERVICE failed"
    log "restarted $SERVICE on the changed files"
  else
    log "$SERVICE is active and nothing changed"
  fi
}

ssh_guard_tools() {
  local tool
  for tool in iptables ip6tables; do
    if has_command "$tool" && "$tool" -t nat -S >/dev/null 2>&1; then printf '%s\n' "$tool"; fi
  done
}

add_ssh_guard() {
  local tool
  while IFS= read -r tool; do
    if "$tool" -t nat -C OUTPUT "${SSH_GUARD_RULE[@]}" 2>/dev/null; then continue; fi
    RUN_SSH_GUARD_ADDED=1
    ST[SSH_GUARD_ADDED]=1
    save_state
    "$tool" -t nat -I OUTPUT 1 "${SSH_GUARD_RULE[@]}" || fail "$tool could not add the SSH guard rule"
    CHANGED=1
    log "$tool: SSH replies bypass the capture"
  done < <(ssh_guard_tools)
}

remove_ssh_guard() {
  local tool
  while IFS= read -r tool; do
    while "$tool" -t nat -C OUTPUT "${SSH_GUARD_RULE[@]}" 2>/dev/null; do
      "$tool" -t nat -D OUTPUT "${SSH_GUARD_RULE[@]}"
      log "$tool: removed the SSH guard rule"
    done
  done < <(ssh_guard_tools)
}

# Polls until the agent reports ready (503 until its first certificate arrives), bounded by
# READY_TIMEOUT_SECONDS.
wait_until_ready() {
  local timeout=${CFG[READY_TIMEOUT_SECONDS]} deadline url
  url="http://localhost:${CFG[STATUS_PORT]}/healthz/ready"
  deadline=$((SECONDS + timeout))
  log "waiting up to ${timeout}s for $url"
  until curl -fsS -o /dev/null --max-time "$PROBE_MAX_SECONDS" -- "$url" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$url did not answer 200 within ${timeout}s"
    sleep 1
  done
  log "ready"
}

# ---------------------------------------------------------------------------------------------
# Undo pieces, shared by the rollback of a failed run and by `remove`

stop_istio() {
  if service_is_active; then
    systemctl stop "$SERVICE"
    log "stopped $SERVICE"
  fi
}

disable_istio() {
  if service_is_enabled; then
    systemctl disable "$SERVICE"
    log "disabled $SERVICE"
  fi
}

start_istio_again() {
  systemctl restart "$SERVICE"
  log "restarted $SERVICE on the restored files"
}

delete_jumps_to_istio() {
  local tool=$1 table=$2 chain=$3 num nums=()
  mapfile -t nums < <("$tool" -t "$table" -L "$chain" -n --line-numbers |
    awk 'NR > 2 && $2 ~ /^ISTIO_/ { print $1 }' | sort -rn)
  for num in "${nums[@]}"; do
    "$tool" -t "$table" -D "$chain" "$num"
  done
}

flush_istio_table() {
  local tool=$1 table=$2 rules chain istio=() others=()
  rules=$("$tool" -t "$table" -S 2>/dev/null) || return 0
  mapfile -t istio < <(awk '$1 == "-N" && $2 ~ /^ISTIO_/ { print $2 }' <<<"$rules")
  if ((${#istio[@]} == 0)); then return 0; fi
  mapfile -t others < <(awk '($1 == "-P" || $1 == "-N") && $2 !~ /^ISTIO_/ { print $2 }' <<<"$rules")
  for chain in "${others[@]}"; do delete_jumps_to_istio "$tool" "$table" "$chain"; done
  for chain in "${istio[@]}"; do "$tool" -t "$table" -F "$chain"; done
  for chain in "${istio[@]}"; do "$tool" -t "$table" -X "$chain"; done
  log "removed ${#istio[@]} ISTIO_ chain(s) from $tool table $table"
}

# Without the proxy, chains left behind would send all TCP to a closed port 15001.
flush_istio_chains() {
  local tool table
  for tool in iptables ip6tables; do
    if ! has_command "$tool"; then continue; fi
    for table in "${IPTABLES_TABLES[@]}"; do flush_istio_table "$tool" "$table"; done
  done
}

# Puts back the before-image of each path kept under $1, or deletes paths that had none.
restore_files() {
  local root=$1 path saved
  shift
  for path in "$@"; do
    saved=$root$path
    if ! path_exists "$saved"; then
      rm -f -- "$path"
    elif ! cmp -s -- "$saved" "$path" || [[ $(stat -c '%u:%g %a' -- "$saved") != $(stat -c '%u:%g %a' -- "$path") ]]; then
      cp -a -- "$saved" "$path.vmsi-restore"
      mv -fT -- "$path.vmsi-restore" "$path"
      log "restored $path"
    fi
  done
}

restore_owners() {
  local list=$1 owner path
  if [[ ! -s $list ]]; then return 0; fi
  while IFS= read -r -d '' owner && IFS= read -r -d '' path; do
    if path_exists "$path"; then chown -h -- "$owner" "$path"; fi
  done <"$list"
}

restore_run_hosts() {
  local target undo=$WORK_DIR/hosts.undo
  target=$(readlink -f /etc/hosts)
  if cmp -s -- "$WORK_DIR/hosts.written" "$target"; then
    replace_hosts_file "$WORK_DIR/hosts.before"
  else
    warn '/etc/hosts changed since this run wrote it; removing only the lines this run added'
    drop_new_tagged_lines "$WORK_DIR/hosts.before" "$target" >"$undo"
    replace_hosts_file "$undo"
  fi
  log 'restored /etc/hosts'
}

strip_tagged_hosts_lines() {
  local target stripped=$WORK_DIR/hosts.stripped
  target=$(readlink -f /etc/hosts)
  drop_tagged_lines "$target" >"$stripped"
  if ! cmp -s -- "$stripped" "$target"; then
    replace_hosts_file "$stripped"
    log 'removed the tagged lines from /etc/hosts'
  fi
}

purge_package() {
  local name=$1
  case $(package_format) in
    deb) dpkg --purge "$name" </dev/null ;;
    rpm) if rpm --query --quiet "$name"; then rpm --erase "$name" </dev/null; fi ;;
  esac
  systemctl daemon-reload
  log "purged $name"
}

# Recreates directories that existed before the package went in and its purge took away.
restore_package_dirs() {
  local entry mode owner dir
  for entry in "$@"; do
    read -r mode owner dir <<<"$entry"
    if [[ -d $dir ]]; then continue; fi
    install -d -m "$mode" -o "${owner%:*}" -g "${owner#*:}" -- "$dir"
    log "recreated $dir, which the package purge removed"
  done
}

remove_etc_istio_link() {
  if [[ -L $ETC_ISTIO ]]; then
    rm -f -- "$ETC_ISTIO"
    log "removed the $ETC_ISTIO link"
  fi
}

remove_istio_user() {
  if user_exists; then
    userdel "$ISTIO_USER"
    log "removed user $ISTIO_USER"
  fi
}

# userdel already drops a same-named primary group where USERGROUPS_ENAB is set (Debian, RHEL).
remove_istio_group() {
  if group_exists; then
    groupdel "$ISTIO_GROUP"
    log "removed group $ISTIO_GROUP"
  fi
}

remove_dirs() {
  local dir
  for dir in "$@"; do
    if in_list "$dir" "${KNOWN_DIRS[@]}" && [[ -d $dir && ! -L $dir ]]; then
      rm -rf -- "$dir"
      log "removed $dir"
    fi
  done
}

restore_state_dir() {
  rm -rf -- "$STATE_DIR"
  if ((BEFORE_STATE == 1)); then cp -a -- "$WORK_DIR/state-before" "$STATE_DIR"; fi
}

undo_package_side_effects_of_run() {
  if ((BEFORE_ETC_ISTIO == 0)); then undo_step remove_etc_istio_link; fi
  if ((BEFORE_USER == 0)); then undo_step remove_istio_user; fi
  if ((BEFORE_GROUP == 0)); then undo_step remove_istio_group; fi
}

# Undoes what this run did, newest first; the VM ends as this run found it.
rollback_run() {
  STEP=rollback
  log 'undoing what this run changed'
  note_created_dirs
  if ((RUN_STARTED == 1 || RUN_RESTARTED == 1)); then undo_step stop_istio; fi
  if ((RUN_ENABLED == 1)); then undo_step disable_istio; fi
  if ((RUN_STARTED == 1 || RUN_RESTARTED == 1)); then undo_step flush_istio_chains; fi
  if ((RUN_SSH_GUARD_ADDED == 1)); then undo_step remove_ssh_guard; fi
  undo_step restore_files "$WORK_DIR/run-backup" "${RUN_FILES[@]}"
  undo_step restore_owners "$WORK_DIR/owners.list"
  if ((RUN_HOSTS_WRITTEN == 1)); then undo_step restore_run_hosts; fi
  if ((RUN_RESTARTED == 1)); then undo_step start_istio_again; fi
  if ((RUN_PKG_INSTALLED == 1)); then
    undo_step purge_package "$PKG_NAME"
    undo_step restore_package_dirs "${RUN_PACKAGE_DIRS[@]}"
    undo_package_side_effects_of_run
  fi
  undo_step remove_dirs "${RUN_DIRS[@]}"
  undo_step restore_state_dir
  ROLLBACK_ARMED=0
}

# ---------------------------------------------------------------------------------------------
# Commands

finish_install() {
  STEP='done'
  ROLLBACK_ARMED=0
  # The key now lives in /etc/certs only; no second copy stays behind.
  rm -rf -- "$PENDING_KEY_DIR"
  if ((CHANGED == 1)); then
    log "done: sidecar installed for ${CFG[EXPECTED_SPIFFE_ID]}"
    emit_result installed true ''
  else
    log 'done: nothing to change'
    emit_result unchanged false ''
  fi
}

cmd_install() {
  STEP=preflight
  require_root
  acquire_lock
  make_work_dir
  check_bundle_dir
  load_injector_env
  validate_injector_env
  select_managed_files
  load_state_if_present
  preflight
  STEP=package
  prepare_package
  check_installed_package
  begin_changes
  install_package
  STEP=files
  install_istio_files
  STEP=hosts
  update_hosts
  STEP=service
  add_ssh_guard
  start_istio
  STEP=ready
  wait_until_ready
  finish_install
}

remove_recorded_install() {
  undo_step stop_istio
  if [[ ${ST[SERVICE_ENABLED]:-0} == 1 ]]; then undo_step disable_istio; fi
  undo_step flush_istio_chains
  undo_step remove_ssh_guard
  undo_step restore_files "$BACKUP_DIR" "${ST_FILES[@]}"
  undo_step restore_owners "$OWNERS_FILE"
  undo_step strip_tagged_hosts_lines
  if [[ ${ST[PACKAGE_INSTALLED]:-0} == 1 && -n ${ST[PACKAGE_NAME]:-} ]]; then
    undo_step purge_package "${ST[PACKAGE_NAME]}"
    undo_step restore_package_dirs "${ST_PACKAGE_DIRS[@]}"
  fi
  if [[ ${ST[ETC_ISTIO_LINK_CREATED]:-0} == 1 ]]; then undo_step remove_etc_istio_link; fi
  if [[ ${ST[USER_CREATED]:-0} == 1 ]]; then undo_step remove_istio_user; fi
  if [[ ${ST[GROUP_CREATED]:-0} == 1 ]]; then undo_step remove_istio_group; fi
  undo_step remove_dirs "${ST_DIRS[@]}"
}

# `remove` needs no bundle: everything it undoes is in the state record. BUNDLE_DIR is accepted
# for symmetry with `install`.
cmd_remove() {
  STEP=remove
  require_root
  acquire_lock
  make_work_dir
  if [[ ! -f $STATE_FILE ]]; then
    # A key from a csr run whose install never happened is the only thing that can be here.
    rm -rf -- "$STATE_DIR"
    log 'no install by vm-sidecar-injector is recorded here'
    emit_result absent false ''
    return 0
  fi
  load_state
  remove_recorded_install
  if ((${#UNDO_FAILURES[@]} > 0)); then
    fail "could not undo: ${UNDO_FAILURES[*]} (the record is kept; run remove again)"
  fi
  rm -rf -- "$STATE_DIR"
  log 'done: sidecar removed'
  emit_result removed true ''
}

# certificates=istio-ca (docs/istio-ca.md): the private key is made here and never leaves the VM;
# only the CSR is printed, one `VMSI-CSR <line>` per PEM line. Every request makes a fresh key, so a
# re-issue also rotates it. istiod takes nothing from the CSR but its public key (the identity comes
# from the token), so the subject is a fixed name rather than a value from outside.
cmd_csr() {
  local line
  STEP=csr
  require_root
  acquire_lock
  make_work_dir
  has_command openssl || fail 'openssl is not installed'
  mkdir -p -- "$PENDING_KEY_DIR"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/O=vm-sidecar-injector' \
    -keyout "$WORK_DIR/key.pem" -out "$WORK_DIR/request.csr" 2>"$WORK_DIR/openssl.err" ||
    fail "openssl could not make a key and CSR: $(tail -n 1 -- "$WORK_DIR/openssl.err")"
  mv -fT -- "$WORK_DIR/key.pem" "$PENDING_KEY"
  while IFS= read -r line; do
    printf '%s %s\n' "$CSR_PREFIX" "$line"
  done <"$WORK_DIR/request.csr"
  log 'made a private key (kept on this VM) and its CSR'
  emit_result csr true ''
}

main() {
  trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR
  trap on_exit EXIT
  trap on_signal INT TERM HUP
  parse_args "$@"
  case $COMMAND in
    install) cmd_install ;;
    remove) cmd_remove ;;
    csr) cmd_csr ;;
  esac
}

main "$@"
