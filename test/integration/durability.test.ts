import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { freePort } from '../support/lab-vm-provider.js';
import { ServiceProcess } from '../support/service-process.js';

const CALLBACK_PASSWORD = 'durability-callback-password-0123456789';
const NOTIFICATIONS = 240;
const KILL_AFTER_ACKNOWLEDGED = 100;
const CONCURRENCY = 16;

const template = JSON.parse(readFileSync(new URL('../../src/tacker/testdata/v2-instantiate-completed.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/**
 * Tacker's contract is "a 204 means it is yours": v2 never redelivers. A burst of distinct
 * notifications is sent to a real `vmsi serve`, which is killed with SIGKILL in the middle of it;
 * after a restart, every notification that got its 204 must be a job in the store.
 */
describe('durability of acknowledged notifications across SIGKILL', function () {
  this.timeout(180_000);
  let service: ServiceProcess;
  let dataDir: string;

  before(async function () {
    const port = await freePort();
    service = new ServiceProcess({
      // No SSH happens here; the service only needs a key file to copy.
      privateKeyPath: new URL(import.meta.url).pathname,
      port,
      extraConfig: (dir) => ({
        // Nothing listens there: the stored events retry in the background, which is fine for this test.
        openstack: { authUrl: 'http://127.0.0.1:9/v3', auth: { method: 'application_credential', id: 'unused', secretFile: path.join(dir, 'openstack-secret') } },
        tacker: {
          callbackAuth: { kind: 'basic', username: 'tacker', passwordFile: path.join(dir, 'callback-password') },
          defaults: { ssh: { user: 'vmadmin', privateKeySecret: 'lab-key' }, package: { source: 'mirror', url: 'http://127.0.0.1:9/istio-sidecar.deb', sha256: 'a'.repeat(64) }, mesh: { gateway: { ip: '198.51.100.1' } } },
        },
      }),
    });
    dataDir = service.dataDir;
    writeFileSync(path.join(dataDir, 'openstack-secret'), 'unused-secret', { mode: 0o600 });
    service.writeSecretFile('callback-password', CALLBACK_PASSWORD);
    await service.start();
  });

  after(async function () {
    await service.remove();
  });

  it(`keeps every acknowledged notification of a burst of ${NOTIFICATIONS} with a SIGKILL in the middle`, async function () {
    const authorization = `Basic ${Buffer.from(`tacker:${CALLBACK_PASSWORD}`).toString('base64')}`;
    const url = `${service.url}/v1/tacker/notifications/v2`;
    const acknowledged: string[] = [];
    let killing: Promise<void> | undefined;
    const send = async (index: number): Promise<void> => {
      const opOcc = randomUUID();
      const body = JSON.stringify({ ...template, id: randomUUID(), vnfLcmOpOccId: opOcc, vnfInstanceId: `vnf-${index % 20}` });
      try {
        const response = await fetch(url, { method: 'POST', headers: { authorization, 'content-type': 'application/json', version: '2.0.0' }, body });
        if (response.status === 204) acknowledged.push(opOcc);
        await response.arrayBuffer();
      } catch {
        // Refused or cut by the kill: not acknowledged, so Tacker would count it as not delivered.
      }
      if (killing === undefined && acknowledged.length >= KILL_AFTER_ACKNOWLEDGED) killing = service.kill();
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < NOTIFICATIONS) await send(next++);
      }),
    );
    await killing;
    expect(acknowledged.length).to.be.at.least(KILL_AFTER_ACKNOWLEDGED);
    await service.start();
    const db = new DatabaseSync(path.join(dataDir, 'jobs.sqlite'), { readOnly: true });
    try {
      const rows = db.prepare("SELECT idempotency_key AS key FROM jobs WHERE kind = 'lcm-event'").all() as Array<{ key: string }>;
      const stored = new Set(rows.map((row) => row.key));
      const lost = acknowledged.filter((opOcc) => !stored.has(`${opOcc}:COMPLETED`));
      console.log(`      durability: ${NOTIFICATIONS} sent, ${acknowledged.length} acknowledged before and around the kill, ${stored.size} stored, ${lost.length} lost`);
      expect(lost).to.deep.equal([]);
      expect(rows.length).to.equal(stored.size);
    } finally {
      db.close();
    }
  });
});
