import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import ssh2 from 'ssh2';
import { AppError } from '../../src/errors.js';
import type { HostKeyPolicy } from '../../src/injection-spec.js';
import { registerSecret, REDACTED } from '../../src/log.js';
import { loadInstallScript, type BundleFile, type InjectionBundle } from '../../src/render/injection-bundle.js';
import { FileSecretResolver } from '../../src/secrets/file-secret-resolver.js';
import { deliverBundle, runInstallScript } from '../../src/ssh/deliver-bundle.js';
import { FileHostKeyStore } from '../../src/ssh/file-host-key-store.js';
import { fingerprintOf, parsePublicKeyLine } from '../../src/ssh/host-key.js';
import { Ssh2VmShell } from '../../src/ssh/ssh2-vm-shell.js';
import type { ConnectOptions, ExecOptions, SshEndpoint, SshTarget, VmSession } from '../../src/injection/vm-shell.js';
import { buildStandInSidecarDeb, type StandInDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { appendToRunLog } from '../support/run-log.js';
import { TEST_ROOT_CERT, TEST_TOKEN_MARKER, makeTestToken } from '../support/test-credentials.js';

/*
 * The SSH adapter against real OpenSSH 9.2 in lab VMs (systemd-nspawn on a private bridge). Needs
 * root, like every lab test. Deadlines are short so that the failure cases cost seconds, not minutes.
 */

const user = 'vmadmin';

function fingerprintOfLine(publicKey: string): string {
  const key = parsePublicKeyLine(publicKey);
  if (key === undefined) throw new Error('not a public key');
  return fingerprintOf(key.blob);
}

async function failureOf(promise: Promise<unknown>): Promise<AppError> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => {
      expect(error).to.be.instanceOf(AppError);
      return error as AppError;
    },
  );
}

/** Collects a command's lines per stream and copies them into the run log, which the suite scans for secrets. */
function lineCollector(source: string): { lines: { stdout: string[]; stderr: string[] }; onLine: NonNullable<ExecOptions['onLine']> } {
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  return {
    lines,
    onLine: (stream, line) => {
      lines[stream].push(line);
      appendToRunLog(`${source} ${stream}`, line);
    },
  };
}

function soon(ms: number): Pick<ConnectOptions, 'deadlineMs' | 'attemptTimeoutMs'> {
  return { deadlineMs: Date.now() + ms, attemptTimeoutMs: 5_000 };
}

/** Successful logins as sshd logged them in the VM's journal. */
async function sshdAcceptedLogins(vm: TestVm): Promise<number> {
  const journal = await vm.run(['journalctl', '-u', 'ssh.service', '-o', 'cat', '--no-pager']);
  return journal.stdout.split('\n').filter((line) => line.startsWith(`Accepted publickey for ${user} `)).length;
}

/** Walks up from a process inside the VM to the sshd process that serves its session. */
async function sessionSshdPid(vm: TestVm, pid: number): Promise<number> {
  let current = pid;
  for (let depth = 0; depth < 5; depth += 1) {
    const comm = (await vm.run(['cat', `/proc/${current}/comm`])).stdout.trim();
    if (comm === 'sshd') return current;
    const stat = (await vm.run(['cat', `/proc/${current}/stat`])).stdout;
    current = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  throw new Error(`no sshd above process ${pid}`);
}

describe('SSH adapter against real OpenSSH (integration, root)', function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  let shell: Ssh2VmShell;
  let hostKeyFile: string;
  let main: TestVm;
  const sessions: VmSession[] = [];
  const vms: TestVm[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.warn('    ssh tests skipped: they need root (lab VMs)');
      this.skip();
    }
    try {
      lab = await startLab();
    } catch (error) {
      if ((error as Error).message !== 'The VM base root could not be prepared.') throw error;
      console.warn('    ssh tests skipped: no base root in /var/cache/vmsi-test and scripts/prepare-test-host.sh could not build one');
      this.skip();
    }
    hostKeyFile = join(lab.workDir, 'state', 'host_keys');
    shell = new Ssh2VmShell({
      secrets: new FileSecretResolver({ secretsDir: dirname(lab.clientKey.privateKeyPath) }),
      hostKeys: new FileHostKeyStore(hostKeyFile),
      knownHostsFiles: [],
      // Fast enough that a late sshd or a drop is noticed within the short test deadlines.
      keepalive: { intervalMs: 2_000, countMax: 2 },
    });
    main = await theLab().startVm({ name: 'ssh-main' });
  });

  afterEach(async function () {
    await Promise.all(sessions.splice(0).map((session) => session.close()));
    await Promise.all(vms.splice(0).map((vm) => vm.stop()));
  });

  after(async function () {
    await lab?.close();
  });

  function theLab(): Lab {
    if (lab === undefined) throw new Error('The lab is not running.');
    return lab;
  }

  async function startVm(options: Parameters<Lab['startVm']>[0] = {}): Promise<TestVm> {
    const vm = await theLab().startVm(options);
    vms.push(vm);
    return vm;
  }

  async function pinned(vm: TestVm): Promise<HostKeyPolicy> {
    return { policy: 'pinned', publicKeys: [await vm.hostPublicKey()] };
  }

  function endpoint(vm: { address: string }, hostKey: HostKeyPolicy, serverKey = `[${vm.address}]:22`): SshEndpoint {
    // The lab key by file for targets and by secret name for jump hosts: both resolver paths in use.
    return { host: vm.address, port: 22, user, privateKeyRef: { file: theLab().clientKey.privateKeyPath }, hostKey, serverKey };
  }

  async function connect(target: SshTarget, options: Partial<ConnectOptions> = {}): Promise<VmSession> {
    const session = await shell.connect(target, { ...soon(30_000), ...options });
    sessions.push(session);
    return session;
  }

  describe('exec', function () {
    let session: VmSession;

    // One session for the whole group: outlives the per-test cleanup, closed here.
    before(async function () {
      session = await shell.connect(endpoint(main, await pinned(main)), soon(30_000));
    });

    after(async function () {
      await session?.close();
    });

    it('returns exit codes and streams stdout and stderr line by line, CRLF and an unterminated last line included', async function () {
      const { lines, onLine } = lineCollector('exec');
      const result = await session.exec(['sh', '-c', 'printf "one\\r\\ntwo\\n"; echo oops >&2; sleep 0.2; printf "last"; exit 3'], { timeoutMs: 10_000, onLine });
      expect(result).to.deep.equal({ exitCode: 3 });
      expect(lines).to.deep.equal({ stdout: ['one', 'two', 'last'], stderr: ['oops'] });
      expect(await session.exec(['true'], { timeoutMs: 10_000 })).to.deep.equal({ exitCode: 0 });
    });

    it('hands the remote program exactly its argv, whatever the characters', async function () {
      const argv = ["it's", '$(touch /tmp/pwned)', '`id`', 'a;b && c', ' spaced ', '*', '"', '\\', ''];
      const { lines, onLine } = lineCollector('argv');
      await session.exec(['printf', '[%s]\\n', ...argv], { timeoutMs: 10_000, onLine });
      expect(lines.stdout).to.deep.equal(argv.map((argument) => `[${argument}]`));
      expect((await main.run(['test', '-e', '/tmp/pwned'])).code).to.equal(1);
    });

    it('runs as root with sudo, feeds stdin, and reports the verified host key fingerprint', async function () {
      const { lines, onLine } = lineCollector('sudo');
      await session.exec(['id', '-un'], { timeoutMs: 10_000, sudo: true, onLine });
      await session.exec(['cat'], { timeoutMs: 10_000, stdin: Readable.from([Buffer.from('from stdin\n')]), onLine });
      expect(lines.stdout).to.deep.equal(['root', 'from stdin']);
      expect(session.hostKeyFingerprint).to.equal(fingerprintOfLine(await main.hostPublicKey()));
    });

    it('redacts registered secrets from the output before anyone sees a line', async function () {
      registerSecret('vmsi-ssh-test-secret-0042');
      const { lines, onLine } = lineCollector('redaction');
      await session.exec(['echo', 'value=vmsi-ssh-test-secret-0042'], { timeoutMs: 10_000, onLine });
      expect(lines.stdout).to.deep.equal([`value=${REDACTED}`]);
    });

    it('times a command out, kills it (also under sudo) and keeps the connection usable', async function () {
      for (const [sudo, seconds] of [[false, '41'], [true, '42']] as const) {
        const started = Date.now();
        const failure = await failureOf(session.exec(['sleep', seconds], { timeoutMs: 1_000, sudo }));
        expect(failure.code).to.equal('REMOTE_COMMAND_TIMEOUT');
        expect(failure.retryable).to.equal(true);
        expect(Date.now() - started).to.be.below(4_000);
        // Bounded: the kill is asynchronous inside the VM.
        let left = '';
        for (let i = 0; i < 20; i += 1) {
          left = (await main.run(['pgrep', '-f', `^sleep ${seconds}$`])).stdout.trim();
          if (left === '') break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(left, `sleep ${seconds} (sudo: ${sudo}) still running`).to.equal('');
      }
      expect(await session.exec(['true'], { timeoutMs: 10_000 })).to.deep.equal({ exitCode: 0 });
    });
  });

  it('refuses a host key that is not the pinned one before authenticating, so nothing runs', async function () {
    const marker = '/tmp/vmsi-must-not-exist';
    const otherKey = ssh2.utils.generateKeyPairSync('ed25519').public;
    const authenticatedBefore = await sshdAcceptedLogins(main);
    const started = Date.now();
    const failure = await failureOf(
      shell.connect(endpoint(main, { policy: 'pinned', publicKeys: [otherKey] }), soon(30_000)).then((session) => session.exec(['touch', marker], { timeoutMs: 5_000 })),
    );
    expect(failure.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(failure.retryable).to.equal(false);
    expect(failure.details).to.deep.include({ expected: [fingerprintOfLine(otherKey)], presented: fingerprintOfLine(await main.hostPublicKey()) });
    expect(Date.now() - started, 'no retries on a mismatch').to.be.below(5_000);
    expect((await main.run(['test', '-e', marker])).code).to.equal(1);
    // sshd never saw the key offered: the client hung up during key exchange.
    expect(await sshdAcceptedLogins(main)).to.equal(authenticatedBefore);
    await (await connect(endpoint(main, await pinned(main)))).close();
    // journald may take a moment to show the line.
    let after = await sshdAcceptedLogins(main);
    for (let i = 0; i < 20 && after === authenticatedBefore; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await sshdAcceptedLogins(main);
    }
    expect(after, 'the count does see logins').to.equal(authenticatedBefore + 1);
  });

  it('accept-new records the first host key, accepts it again, and refuses the VM once its host key changed', async function () {
    const vm = await startVm();
    const serverKey = 'e1c0ffee-0000-4000-8000-000000000001';
    const target = endpoint(vm, { policy: 'accept-new' }, serverKey);
    await (await connect(target)).close();
    const hostKey = await vm.hostPublicKey();
    expect(await readFile(hostKeyFile, 'utf8')).to.contain(`${serverKey} ${hostKey}\n`);
    await (await connect(target)).close();

    const regenerate = await vm.run(['sh', '-c', 'rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh.service']);
    expect(regenerate.code, regenerate.stderr).to.equal(0);
    await vm.waitForSsh();
    const newKey = await vm.hostPublicKey();
    expect(newKey).to.not.equal(hostKey);
    const failure = await failureOf(connect(target));
    expect(failure.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(failure.details).to.deep.include({ expected: [fingerprintOfLine(hostKey)], presented: fingerprintOfLine(newKey), serverKey });
    expect(await readFile(hostKeyFile, 'utf8')).to.contain(`${serverKey} ${hostKey}\n`);
  });

  it('known-hosts: connects to a host in the file and refuses one that is not in it', async function () {
    const file = join(theLab().workDir, 'known_hosts');
    await writeFile(file, `${main.address} ${await main.hostPublicKey()}\n`);
    await (await connect(endpoint(main, { policy: 'known-hosts', file }))).close();
    const other = await startVm();
    const failure = await failureOf(connect(endpoint(other, { policy: 'known-hosts', file })));
    expect(failure.code).to.equal('SSH_HOST_KEY_UNKNOWN');
    expect(failure.details).to.include({ presented: fingerprintOfLine(await other.hostPublicKey()) });
  });

  it('retries while sshd starts 20 s late, then connects', async function () {
    const vm = await startVm({ sshStartDelaySeconds: 20 });
    const attempts: Array<string | undefined> = [];
    const session = await connect(endpoint(vm, { policy: 'accept-new' }), {
      ...soon(60_000),
      onAttempt: (_attempt, error) => attempts.push(error === undefined ? 'ok' : `${error.code}:${String(error.details.failure)}`),
    });
    expect(attempts.length).to.be.greaterThan(3);
    expect(attempts.at(-1)).to.equal('ok');
    expect(attempts[0]).to.equal('SSH_CONNECT_FAILED:ECONNREFUSED');
    const { lines, onLine } = lineCollector('late');
    await session.exec(['hostname'], { timeoutMs: 10_000, onLine });
    expect(lines.stdout).to.deep.equal([vm.name]);
  });

  it('gives up with SSH_CONNECT_FAILED at the deadline when the VM never comes up', async function () {
    const nobody = { address: theLab().reserveAddress() };
    const started = Date.now();
    const attempts: number[] = [];
    const failure = await failureOf(
      connect(endpoint(nobody, { policy: 'accept-new' }), { deadlineMs: started + 4_000, attemptTimeoutMs: 1_500, onAttempt: (attempt) => attempts.push(attempt) }),
    );
    const elapsed = Date.now() - started;
    expect(failure.code).to.equal('SSH_CONNECT_FAILED');
    expect(failure.retryable).to.equal(true);
    expect(failure.details.attempts).to.equal(attempts.length);
    expect(attempts.length).to.be.at.least(2);
    expect(elapsed).to.be.within(3_900, 5_500);
  });

  it('reports SSH_CONNECTION_LOST when the session is cut mid-command, and afterwards', async function () {
    const session = await connect(endpoint(main, await pinned(main)));
    let shellPid: number | undefined;
    const running = session.exec(['sh', '-c', 'echo "pid $$"; exec sleep 30'], {
      timeoutMs: 30_000,
      onLine: (_stream, line) => {
        shellPid = Number(/^pid (\d+)$/.exec(line)?.[1]);
      },
    });
    const settled = running.then(
      () => undefined,
      (error: unknown) => error as AppError,
    );
    for (let i = 0; i < 50 && shellPid === undefined; i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(shellPid, 'the command printed its pid').to.be.a('number');
    const sshd = await sessionSshdPid(main, shellPid!);
    expect((await main.run(['kill', '-KILL', String(sshd)])).code).to.equal(0);

    const failure = await settled;
    expect(failure?.code).to.equal('SSH_CONNECTION_LOST');
    expect(failure?.retryable).to.equal(true);
    expect((await failureOf(session.exec(['true'], { timeoutMs: 5_000 }))).code).to.equal('SSH_CONNECTION_LOST');
  });

  it('reaches a VM the host cannot reach directly through a jump host, verifying both host keys', async function () {
    const [bastion, hidden] = await Promise.all([startVm({ name: 'bastion' }), startVm({ name: 'hidden' })]);
    // Only the bastion may reach the hidden VM's sshd: a direct connection from the host is reset.
    const firewall = await hidden.run(['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-s', theLab().bridgeAddress, '-j', 'REJECT', '--reject-with', 'tcp-reset']);
    expect(firewall.code, firewall.stderr).to.equal(0);
    const direct = await failureOf(connect(endpoint(hidden, await pinned(hidden)), { deadlineMs: Date.now() + 1_500, attemptTimeoutMs: 1_000 }));
    expect(direct.code).to.equal('SSH_CONNECT_FAILED');

    const keyName = basename(theLab().clientKey.privateKeyPath);
    const jumpHost: SshEndpoint = { ...endpoint(bastion, await pinned(bastion)), privateKeyRef: { secret: keyName } };
    const session = await connect({ ...endpoint(hidden, await pinned(hidden)), jumpHost });
    const { lines, onLine } = lineCollector('jump');
    await session.exec(['hostname'], { timeoutMs: 10_000, onLine });
    expect(lines.stdout).to.deep.equal(['hidden']);
    expect(session.hostKeyFingerprint).to.equal(fingerprintOfLine(await hidden.hostPublicKey()));

    const wrongBastionKey = ssh2.utils.generateKeyPairSync('ed25519').public;
    const failure = await failureOf(connect({ ...endpoint(hidden, await pinned(hidden)), jumpHost: { ...jumpHost, hostKey: { policy: 'pinned', publicKeys: [wrongBastionKey] } } }));
    expect(failure.code).to.equal('SSH_HOST_KEY_MISMATCH');
    expect(failure.details).to.include({ host: bastion.address });
  });

  describe('bundle delivery and the install script', function () {
    let deb: StandInDeb;

    before(async function () {
      deb = await buildStandInSidecarDeb(join(theLab().workDir, 'packages'));
    });

    async function bundleFor(vm: TestVm, sha256: string): Promise<InjectionBundle> {
      const spiffeId = 'spiffe://cluster.local/ns/vm-ns/sa/vm-sa';
      const text = (name: string, content: string, mode: number, isSecret = false): BundleFile => ({ name, content: Buffer.from(content), mode, isSecret });
      const clusterEnv = [
        "ISTIO_INBOUND_PORTS='*'",
        'ISTIO_LOCAL_EXCLUDE_PORTS=22,15090,15021,15020',
        'ISTIO_META_CLUSTER_ID=Kubernetes',
        'ISTIO_NAMESPACE=vm-ns',
        'ISTIO_SERVICE=vm-app.vm-ns',
        "ISTIO_SERVICE_CIDR='*'",
        `ISTIO_SVC_IP=${vm.address}`,
        'SERVICE_ACCOUNT=vm-sa',
        'TRUST_DOMAIN=cluster.local',
        '',
      ].join('\n');
      const injectorEnv = [
        'VMSI_FORMAT=1',
        'PACKAGE_FILE=istio-sidecar.deb',
        'PACKAGE_URL=',
        `PACKAGE_SHA256=${sha256}`,
        'PACKAGE_FORMAT=deb',
        'READY_TIMEOUT_SECONDS=60',
        'MIN_FREE_MB=64',
        `EXPECTED_SPIFFE_ID=${spiffeId}`,
        'STATUS_PORT=15021',
        '',
      ].join('\n');
      return {
        files: [
          { name: 'install-sidecar.sh', content: loadInstallScript(), mode: 0o700, isSecret: false },
          text('injector.env', injectorEnv, 0o600),
          text('cluster.env', clusterEnv, 0o644),
          text('mesh.yaml', 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n', 0o644),
          text('root-cert.pem', TEST_ROOT_CERT, 0o644),
          text('istio-token', makeTestToken('vm-ns', 'vm-sa'), 0o400, true),
          text('hosts', `${theLab().bridgeAddress} istiod.istio-system.svc\n`, 0o644),
          { name: 'istio-sidecar.deb', content: await readFile(deb.path), mode: 0o600, isSecret: false },
        ],
        identity: { trustDomain: 'cluster.local', clusterId: 'Kubernetes', spiffeId, discoveryAddress: 'istiod.istio-system.svc:15012' },
      };
    }

    it('unpacks the bundle root-only with its modes, installs, removes, and leaves no bundle behind', async function () {
      const vm = await startVm();
      const session = await connect(endpoint(vm, await pinned(vm)));
      const remoteDir = '/run/vmsi/bundle-job-1';
      // A stale directory from a crashed run, owned by the login user: replaced, not reused.
      await vm.run(['install', '-d', '-o', user, '-m', '0777', remoteDir]);
      await deliverBundle(session, await bundleFor(vm, deb.sha256), remoteDir, { timeoutMs: 30_000 });
      const listing = await vm.run(['sh', '-c', `cd ${remoteDir} && stat -c '%n %U:%G %a' . * | sort`]);
      expect(listing.stdout.trim().split('\n')).to.deep.equal([
        '. root:root 700',
        'cluster.env root:root 644',
        'hosts root:root 644',
        'injector.env root:root 600',
        'install-sidecar.sh root:root 700',
        'istio-sidecar.deb root:root 600',
        'istio-token root:root 400',
        'mesh.yaml root:root 644',
        'root-cert.pem root:root 644',
      ]);
      expect((await vm.run(['sha256sum', `${remoteDir}/istio-sidecar.deb`])).stdout.split(' ')[0]).to.equal(deb.sha256);

      const install = lineCollector('install-sidecar.sh install');
      const installed = await runInstallScript(session, remoteDir, 'install', { timeoutMs: 120_000, onLine: install.onLine });
      expect(installed).to.deep.equal({ status: 'installed', changed: true, spiffeId: 'spiffe://cluster.local/ns/vm-ns/sa/vm-sa', reason: '' });
      expect(install.lines.stdout.length).to.be.greaterThan(3);
      expect(install.lines.stdout.join('\n')).to.not.contain(TEST_TOKEN_MARKER);
      expect((await vm.run(['systemctl', 'is-active', 'istio'])).stdout.trim()).to.equal('active');
      expect((await vm.run(['test', '-e', remoteDir])).code, 'the bundle directory is gone').to.equal(1);

      await deliverBundle(session, await bundleFor(vm, deb.sha256), remoteDir, { timeoutMs: 30_000 });
      const removed = await runInstallScript(session, remoteDir, 'remove', { timeoutMs: 60_000, onLine: lineCollector('install-sidecar.sh remove').onLine });
      expect(removed.status).to.equal('removed');
      expect((await vm.run(['test', '-e', remoteDir])).code).to.equal(1);
    });

    it("fails with the script's one-line reason, not retryable, and still removes the bundle", async function () {
      const vm = await startVm();
      const session = await connect(endpoint(vm, await pinned(vm)));
      const remoteDir = '/run/vmsi/bundle-job-2';
      await deliverBundle(session, await bundleFor(vm, '0'.repeat(64)), remoteDir, { timeoutMs: 30_000 });
      const failure = await failureOf(runInstallScript(session, remoteDir, 'install', { timeoutMs: 60_000, onLine: lineCollector('install-sidecar.sh bad checksum').onLine }));
      expect(failure.code).to.equal('REMOTE_COMMAND_FAILED');
      expect(failure.retryable).to.equal(false);
      expect(failure.details.status).to.equal('failed');
      expect(String(failure.details.reason)).to.match(/sha256|checksum/i);
      expect((await vm.run(['test', '-e', remoteDir])).code).to.equal(1);
      expect((await vm.run(['systemctl', 'is-enabled', 'istio'])).code).to.not.equal(0);
    });
  });
});
