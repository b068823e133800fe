import { AppError } from '../errors.js';
import { parseInjectionSpec, type InjectionSpec } from '../injection-spec.js';
import type { Clock } from '../clock.js';
import type { JsonObject, JsonValue } from '../jobs/job.js';
import { retryPolicy, type StepPolicy } from '../retry/retry-policy.js';
import type { StepContext, StepDefinition, StepDefinitions } from '../jobs/step-definition.js';
import type { MeshRegistry, RegisteredWorkloadEntry } from '../mesh/mesh-registry.js';
import { buildWorkloadEntry, buildWorkloadGroup, workloadEntryName } from '../mesh/workload-objects.js';
import type { Notifier } from '../notify/notifier.js';
import type { InjectionBundle } from '../render/injection-bundle.js';
import { INSTALL_SCRIPT_NAME } from '../render/injection-bundle.js';
import { renderInjection, renderInjectionWithToken, type RenderDependencies, type RenderedInjection } from '../render/render-injection.js';
import type { BundleDelivery, InstallMode, InstallResult, RemoteStepOptions } from './bundle-delivery.js';
import type { VmSession, VmShell } from './vm-shell.js';
import { sshTargetOf } from './injection-target.js';
import { buildOutcomeEvent, expectedSpiffeIdOf } from './injection-events.js';
import { hasLostItsToken, verifySidecar } from './sidecar-checks.js';
import { issueWorkloadCertificate, type IstioCaSettings } from './workload-certificate.js';

export interface InjectionStepDependencies {
  render: RenderDependencies;
  shell: VmShell;
  /** Carries the bundle over the shell's session and runs the install script (the SSH adapter's sshBundleDelivery). */
  delivery: BundleDelivery;
  registry: MeshRegistry;
  notifier?: Notifier;
  /** For specs with `certificates: istio-ca`. */
  istioCa?: IstioCaSettings;
  /** Parent of the per-job bundle folder on the VM. */
  remoteBundleDir: string;
  /** How long a job keeps trying to reach a VM that is still booting, from the step's first attempt. */
  connectDeadlineMs: number;
  commandTimeoutMs: number;
  notifyDeadlineMs: number;
  clock: Clock;
  /** Reports how long reaching the VM took, retries while it boots included. */
  observeSshConnect?: (seconds: number, outcome: 'connected' | 'failed') => void;
}

/** What a job stores as input: the validated spec, which names secrets but never holds one. */
export interface InjectionJobInput extends JsonObject {
  spec: JsonObject;
}

/**
 * Parsed once per stored input: every step of a job reads the spec, several of them more than
 * once, and the store hands the same input object from step to step.
 */
const parsedSpecs = new WeakMap<object, InjectionSpec>();

export function specOf(context: StepContext): InjectionSpec {
  const input = context.job.input.spec;
  const cached = typeof input === 'object' && input !== null ? parsedSpecs.get(input) : undefined;
  if (cached !== undefined) return cached;
  const spec = parseInjectionSpec(input);
  if (typeof input === 'object' && input !== null) parsedSpecs.set(input, spec);
  return spec;
}

const SSH_CONNECT_ATTEMPT_TIMEOUT_MS = 20_000;
const VERIFY_CONNECT_DEADLINE_MS = 120_000;

/**
 * The defaults each step runs with (docs/jobs.md). Attempt timeouts bound one try; deadlines bound
 * the retries of a step from its first attempt; retryability is the error's own property.
 */
export function injectionStepPolicies(deps: Pick<InjectionStepDependencies, 'connectDeadlineMs' | 'commandTimeoutMs' | 'notifyDeadlineMs'>): Record<string, StepPolicy> {
  const remoteWork = deps.connectDeadlineMs + deps.commandTimeoutMs;
  return {
    resolve: { attemptTimeoutMs: 30_000, retry: retryPolicy({ maximumAttempts: 3 }) },
    credentials: { attemptTimeoutMs: 60_000, retry: retryPolicy({ maximumAttempts: 5, initialIntervalMs: 5_000 }), deadlineMs: 10 * 60_000 },
    deliver: { attemptTimeoutMs: remoteWork + 60_000, retry: retryPolicy({ maximumAttempts: 5, initialIntervalMs: 2_000, maximumIntervalMs: 30_000 }), deadlineMs: remoteWork },
    undo: { attemptTimeoutMs: remoteWork + 60_000, retry: retryPolicy({ maximumAttempts: 3, initialIntervalMs: 2_000 }), deadlineMs: remoteWork },
    // An attempt may onboard a restarted VM again (a whole remote install) before it checks.
    verify: { attemptTimeoutMs: remoteWork + VERIFY_CONNECT_DEADLINE_MS + 60_000, retry: retryPolicy({ maximumAttempts: 5, initialIntervalMs: 3_000 }), deadlineMs: 10 * 60_000 },
    register: { attemptTimeoutMs: 60_000, retry: retryPolicy({ maximumAttempts: 8, initialIntervalMs: 2_000 }), deadlineMs: 10 * 60_000 },
    deregister: { attemptTimeoutMs: 60_000, retry: retryPolicy({ maximumAttempts: 8, initialIntervalMs: 2_000 }), deadlineMs: 10 * 60_000 },
    // The notifier retries inside one attempt until its own deadline; the job records the report.
    notify: { attemptTimeoutMs: deps.notifyDeadlineMs + 30_000, retry: retryPolicy({ maximumAttempts: 1 }) },
  };
}

function step(name: string, policies: Record<string, StepPolicy>, run: StepDefinition['run']): StepDefinition {
  const policy = policies[name];
  if (policy === undefined) throw new Error(`no policy for step ${name}`);
  return { name, policy, run };
}

/** The deadline for reaching the VM counts from the step's first attempt, so retries cannot extend it. */
function connectDeadline(context: StepContext, deps: InjectionStepDependencies): number {
  const startedAt = context.job.steps.find((candidate) => candidate.name === context.stepName)?.startedAt ?? deps.clock.now();
  return startedAt + deps.connectDeadlineMs;
}

async function withSession<T>(context: StepContext, deps: InjectionStepDependencies, deadlineMs: number, use: (session: VmSession) => Promise<T>): Promise<T> {
  const spec = specOf(context);
  const startedAt = deps.clock.now();
  const observe = (outcome: 'connected' | 'failed'): void => deps.observeSshConnect?.((deps.clock.now() - startedAt) / 1000, outcome);
  const session = await deps.shell
    .connect(sshTargetOf(spec), {
      deadlineMs,
      attemptTimeoutMs: SSH_CONNECT_ATTEMPT_TIMEOUT_MS,
      signal: context.signal,
      onAttempt: (attempt, error) => {
        if (error) context.appendLog(`ssh: connect attempt ${attempt} failed: ${error.code}: ${error.message}`);
      },
    })
    .catch((error: unknown) => {
      observe('failed');
      throw error;
    });
  observe('connected');
  try {
    context.appendLog(`ssh: connected to ${spec.vm.address}, host key ${session.hostKeyFingerprint}`);
    return await use(session);
  } finally {
    await session.close();
  }
}

function remoteDirOf(context: StepContext, deps: InjectionStepDependencies): string {
  return `${deps.remoteBundleDir}/${context.job.id}`;
}

/** Work between unpacking the bundle and running the script (the CSR round trip); its result joins the step's output. */
type BeforeInstall = (session: VmSession, remoteDir: string, options: RemoteStepOptions) => Promise<JsonObject>;

interface RemoteWork {
  bundle: InjectionBundle;
  mode: InstallMode;
  beforeInstall?: BeforeInstall;
}

async function runBundle(context: StepContext, deps: InjectionStepDependencies, { bundle, mode, beforeInstall }: RemoteWork): Promise<JsonObject> {
  const remoteDir = remoteDirOf(context, deps);
  const options = { timeoutMs: deps.commandTimeoutMs, onLine: (_stream: 'stdout' | 'stderr', line: string) => context.appendLog(line) };
  return withSession(context, deps, connectDeadline(context, deps), async (session) => {
    try {
      await deps.delivery.deliver(session, bundle, remoteDir, options);
      const prepared = beforeInstall === undefined ? {} : await beforeInstall(session, remoteDir, options);
      const result: InstallResult = await deps.delivery.runInstallScript(session, remoteDir, mode, options);
      return { hostKeyFingerprint: session.hostKeyFingerprint, ...prepared, result: { ...result } };
    } finally {
      // The bundle holds a live token: it never outlives the run, whatever the outcome.
      await deps.delivery.remove(session, remoteDir).catch(() => undefined);
    }
  });
}

function removalBundle(deps: InjectionStepDependencies): InjectionBundle {
  return {
    files: [{ name: INSTALL_SCRIPT_NAME, content: deps.render.installScript, mode: 0o700, isSecret: false }],
    identity: { trustDomain: '', clusterId: '', spiffeId: '', discoveryAddress: '' },
  };
}

function resolveStep(policies: Record<string, StepPolicy>): StepDefinition {
  return step('resolve', policies, (context) => {
    const spec = specOf(context);
    return Promise.resolve({ address: spec.vm.address, serverKey: sshTargetOf(spec).serverKey, vmName: spec.vm.name });
  });
}

/** Checks that the control plane can issue this identity before touching the VM; the token is discarded. */
function credentialsStep(policies: Record<string, StepPolicy>, deps: InjectionStepDependencies): StepDefinition {
  return step('credentials', policies, async (context) => {
    const bundle = await renderInjection(specOf(context), deps.render);
    return { ...bundle.identity };
  });
}

function certificateRoundTrip(context: StepContext, deps: InjectionStepDependencies, rendered: RenderedInjection): BeforeInstall {
  const settings = deps.istioCa;
  if (settings === undefined) throw new AppError('INTERNAL', 'certificates istio-ca needs the mesh.istioCa settings wired.');
  return async (session, remoteDir, options) => {
    const certificate = await issueWorkloadCertificate({ session, delivery: deps.delivery, remoteDir }, rendered, { settings, options, signal: context.signal });
    context.appendLog(`certificate: istiod signed ${certificate.spiffeId} for the key made on the VM (serial ${certificate.serialNumber}, valid until ${certificate.notAfter})`);
    return { certificate: { ...certificate } };
  };
}

/** Mints the token just before use (Istio users' lesson 1): boot and package download stay covered. */
async function installWithFreshToken(context: StepContext, deps: InjectionStepDependencies): Promise<JsonObject> {
  const spec = specOf(context);
  const rendered = await renderInjectionWithToken(spec, deps.render);
  const beforeInstall = spec.mesh.certificates === 'istio-ca' ? certificateRoundTrip(context, deps, rendered) : undefined;
  return runBundle(context, deps, { bundle: rendered.bundle, mode: 'install', ...(beforeInstall === undefined ? {} : { beforeInstall }) });
}

function deliverStep(policies: Record<string, StepPolicy>, deps: InjectionStepDependencies): StepDefinition {
  return step('deliver', policies, (context) => installWithFreshToken(context, deps));
}

/**
 * A VM restarted between the install and this check has lost its token (tmpfs) and its proxy would
 * never become ready, however often the check is retried: it is onboarded again with a fresh token
 * (the install script rewrites the token and restarts istio; the package is not installed twice).
 */
function verifyStep(policies: Record<string, StepPolicy>, deps: InjectionStepDependencies): StepDefinition {
  return step('verify', policies, async (context) => {
    const verify = (): Promise<JsonObject> =>
      withSession(context, deps, deps.clock.now() + VERIFY_CONNECT_DEADLINE_MS, (session) =>
        verifySidecar(session, {
          spec: specOf(context),
          expectedSpiffeId: expectedSpiffeIdOf(context.job, specOf(context)),
          timeoutMs: 60_000,
          appendLog: (line) => context.appendLog(line),
        }),
      );
    try {
      return await verify();
    } catch (error) {
      if (!hasLostItsToken(error, specOf(context))) throw error;
      context.appendLog('verify: the token is gone from the VM, which restarted since the install; installing again with a fresh token');
      const reinstalled = await installWithFreshToken(context, deps);
      return { ...(await verify()), reinstalledAfterRestart: reinstalled.result ?? null };
    }
  });
}

/** istiod's Healthy condition, reported where a probe is configured (it only exists then). */
function healthOf(entry: RegisteredWorkloadEntry, spec: InjectionSpec): string {
  if (spec.mesh.probe === undefined) return 'no probe configured';
  const healthy = entry.status?.conditions?.find((condition) => condition.type === 'Healthy');
  if (healthy === undefined) return 'not reported yet';
  return healthy.status === 'True' ? 'healthy' : `unhealthy: ${healthy.message ?? healthy.reason ?? ''}`.trim();
}

/**
 * Done means done (Istio users' lesson 7): the entry is read back from the registry, never assumed.
 * With auto-registration istiod creates it when the proxy connects; the step waits for it through
 * its retries and never creates one itself.
 */
function registerStep(policies: Record<string, StepPolicy>, deps: InjectionStepDependencies): StepDefinition {
  return step('register', policies, async (context) => {
    const spec = specOf(context);
    const name = workloadEntryName(spec);
    const group = await deps.registry.ensureWorkloadGroup(buildWorkloadGroup(spec));
    const applied = spec.mesh.autoRegister ? 'left to istiod (auto-registration)' : await deps.registry.applyWorkloadEntry(buildWorkloadEntry(spec));
    const stored = await deps.registry.getWorkloadEntry(spec.mesh.namespace, name);
    if (stored === undefined) {
      const waiting = spec.mesh.autoRegister ? `istiod has not registered ${name} yet` : `${name} is missing from the registry after it was applied`;
      throw new AppError('REGISTRY_FAILED', `${waiting}.`, { retryable: true, details: { namespace: spec.mesh.namespace, workloadEntry: name } });
    }
    context.appendLog(`register: ${spec.mesh.namespace}/${name} present (${applied}); health: ${healthOf(stored, spec)}`);
    return { workloadGroup: group, workloadEntry: name, entry: applied, present: true, health: healthOf(stored, spec) };
  });
}

/**
 * A VM that is already gone cannot be cleaned, but must still leave the mesh: the undo records that
 * it was unreachable and the job goes on to deregister it.
 */
function undoStep(policies: Record<string, StepPolicy>, deps: InjectionStepDependencies): StepDefinition {
  return step('undo', policies, async (context) => {
    const jobContext = context.job.input.context;
    if (typeof jobContext === 'object' && jobContext !== null && !Array.isArray(jobContext) && jobContext.serverDeleted === true) {
      // Nova already deleted it (Tacker removes servers before reporting COMPLETED): nothing to reach.
      return { vm: 'deleted', reason: 'Nova reports the server deleted' };
    }
    try {
      return await runBundle(context, deps, { bundle: removalBundle(deps), mode: 'remove' });
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'SSH_CONNECT_FAILED' || deps.clock.now() < connectDeadline(context, deps)) throw error;
      context.appendLog(`undo: the VM did not answer before the deadline (${error.message}); deregistering it anyway`);
      return { vm: 'unreachable', reason: error.message };
    }
  });
}

function deregisterStep(policies: Record<string, StepPolicy>, deps: InjectionStepDependencies): StepDefinition {
  return step('deregister', policies, async (context) => {
    const spec = specOf(context);
    const name = workloadEntryName(spec);
    return { workloadEntry: name, result: await deps.registry.deleteWorkloadEntry(spec.mesh.namespace, name) };
  });
}

function notifyStep(policies: Record<string, StepPolicy>, deps: InjectionStepDependencies, outcome: 'succeeded' | 'removed'): StepDefinition {
  return step('notify', policies, async (context): Promise<JsonValue> => {
    if (deps.notifier === undefined) return { delivered: false, skipped: 'no webhook configured' };
    const event = buildOutcomeEvent({ job: context.job, spec: specOf(context), outcome, now: deps.clock.now() });
    const report = await deps.notifier.notify(event, { signal: context.signal });
    context.appendLog(`notify: ${event.type} ${report.delivered ? 'delivered' : `not delivered (${report.gaveUp ?? report.lastError ?? 'unknown'})`} after ${report.attempts} attempt(s)`);
    return { eventId: event.id, ...report };
  });
}

export function createInjectionSteps(deps: InjectionStepDependencies): StepDefinitions {
  const policies = injectionStepPolicies(deps);
  return {
    inject: [
      resolveStep(policies),
      credentialsStep(policies, deps),
      deliverStep(policies, deps),
      verifyStep(policies, deps),
      registerStep(policies, deps),
      notifyStep(policies, deps, 'succeeded'),
    ],
    remove: [resolveStep(policies), undoStep(policies, deps), deregisterStep(policies, deps), notifyStep(policies, deps, 'removed')],
  };
}
