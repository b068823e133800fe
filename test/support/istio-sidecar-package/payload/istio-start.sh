#!/bin/bash
# Stand-in for the istio-sidecar package's istio-start.sh (vm-sidecar-injector test lab). It reads
# the same files in the same order, sets up the same nat chains through `pilot-agent istio-iptables`,
# and runs the agent as istio-proxy; the agent is a stand-in that serves the health endpoints only.
set -e

# Like the real script: every variable the files set is exported to the agent.
set -a
ISTIO_SIDECAR_CONFIG=${ISTIO_SIDECAR_CONFIG:-/var/lib/istio/envoy/sidecar.env}
if [[ -r ${ISTIO_SIDECAR_CONFIG} ]]; then
  # shellcheck disable=SC1090
  . "${ISTIO_SIDECAR_CONFIG}"
fi
ISTIO_CLUSTER_CONFIG=${ISTIO_CLUSTER_CONFIG:-/var/lib/istio/envoy/cluster.env}
if [[ -r ${ISTIO_CLUSTER_CONFIG} ]]; then
  # shellcheck disable=SC1090
  . "${ISTIO_CLUSTER_CONFIG}"
fi
set +a

ISTIO_BIN_BASE=${ISTIO_BIN_BASE:-/usr/local/bin}
ISTIO_LOG_DIR=${ISTIO_LOG_DIR:-/var/log/istio}
NS=${ISTIO_NAMESPACE:-default}
SVC=${ISTIO_SERVICE:-rawvm}
EXEC_USER=${EXEC_USER:-istio-proxy}

if [[ -z ${ISTIO_SVC_IP:-} ]]; then
  ISTIO_SVC_IP=$(hostname --all-ip-addresses | cut -d ' ' -f 1)
fi
if [[ -z ${POD_NAME:-} ]]; then
  POD_NAME=$(hostname -s)
fi

if [[ ${1-} == "clean" ]]; then
  if [[ ${ISTIO_CUSTOM_IP_TABLES-} != "true" ]]; then
    "${ISTIO_BIN_BASE}/pilot-agent" istio-clean-iptables
  fi
  exit 0
fi

if [[ ${ISTIO_CUSTOM_IP_TABLES-} != "true" ]]; then
  # Rules of an earlier run go first, so a restart never stacks a second set.
  "${ISTIO_BIN_BASE}/pilot-agent" istio-clean-iptables
  "${ISTIO_BIN_BASE}/pilot-agent" istio-iptables
fi

# The real script switches user with su; setpriv does the same without a PAM session, which
# minimal images may not be able to open.
exec setpriv --reuid="${EXEC_USER}" --regid="${EXEC_USER}" --init-groups \
  env INSTANCE_IP="${ISTIO_SVC_IP}" POD_NAME="${POD_NAME}" POD_NAMESPACE="${NS}" \
  "${ISTIO_BIN_BASE}/pilot-agent" proxy --serviceCluster="${SVC}" \
  >>"${ISTIO_LOG_DIR}/istio.log" 2>>"${ISTIO_LOG_DIR}/istio.err.log"
