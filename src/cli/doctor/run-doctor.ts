import { loadConfig, type Config, type ConfigSources } from '../../config.js';
import { isAppError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { kubeConfigOf } from '../../composition/wiring-parts.js';
import { clockSkewCheck } from './clock-skew-check.js';
import { check, failedCheck, reportOf, type CheckResult, type DoctorReport } from './doctor-check.js';
import { istioCaCheck, meshRootCheck } from './istio-ca-check.js';
import { kubernetesRbacCheck } from './kubernetes-checks.js';
import { credentialFilesCheck, dataDirCheck } from './local-checks.js';
import { openStackChecks } from './openstack-checks.js';
import { webhookCheck } from './webhook-check.js';

export interface DoctorOptions extends ConfigSources {
  /** Workload namespaces to check access and the root certificate in; default: those the Tacker profiles name, else `default`. */
  namespaces?: string[];
  /** The local clock compared with the servers'; tests pass a shifted one. */
  clock?: () => number;
}

const CONFIG_TITLE = 'Configuration valid';

function configCheck(sources: ConfigSources): { config?: Config; result: CheckResult } {
  try {
    const config = loadConfig(sources);
    const file = sources.file ?? (sources.env ?? process.env).VMSI_CONFIG;
    return { config, result: check('config', CONFIG_TITLE, { status: 'pass', detail: file === undefined ? 'built-in defaults and environment' : `${file} and environment` }) };
  } catch (error) {
    const result = failedCheck('config', CONFIG_TITLE, error, 'Fix each listed key; `vmsi config check` prints the effective configuration once it is valid.');
    if (isAppError(error)) result.findings = error.problems.map((problem) => `${problem.path}: ${problem.message}`);
    return { result };
  }
}

function workloadNamespacesOf(config: Config, requested: string[] | undefined): string[] {
  if (requested !== undefined && requested.length > 0) return requested;
  const fromProfiles = Object.values(config.tacker?.profiles ?? {}).flatMap((profile) => (profile.namespace === undefined ? [] : [profile.namespace]));
  return fromProfiles.length > 0 ? [...new Set(fromProfiles)].sort() : ['default'];
}

/**
 * Every check of a setup, in the order an operator fixes things: the config, local files, then
 * each remote service the configuration names. Nothing is changed anywhere: only reads, a
 * throw-away file in the data folder, SelfSubjectAccessReviews and a TLS handshake.
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const clock = options.clock ?? Date.now;
  const { config, result } = configCheck(options);
  if (config === undefined) return reportOf([result]);
  const logger = createLogger({ silent: true });
  const mesh = config.tacker?.defaults.mesh;
  const istioNamespace = mesh?.istioNamespace ?? 'istio-system';
  const workloadNamespaces = workloadNamespacesOf(config, options.namespaces);
  const openstack = await openStackChecks(config, logger, clock);
  const kubernetes = await kubernetesRbacCheck(config, () => kubeConfigOf(config), { workloadNamespaces, istioNamespace }, clock);
  const webhook = await webhookCheck(config, clock);
  return reportOf([
    result,
    await dataDirCheck(config),
    await credentialFilesCheck(config),
    await meshRootCheck(config, logger, workloadNamespaces),
    ...openstack.checks,
    kubernetes.check,
    await istioCaCheck(config, logger, { namespace: workloadNamespaces[0] as string, istioNamespace, ...(mesh?.revision === undefined ? {} : { revision: mesh.revision }) }),
    webhook.check,
    clockSkewCheck([...openstack.dates, ...kubernetes.dates, ...webhook.dates]),
  ]);
}
