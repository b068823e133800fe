import type { InjectionSpecInput } from '../../src/injection-spec.js';

/** A minimal valid spec; tests change one thing at a time. */
export function validSpecInput(overrides: Partial<InjectionSpecInput> = {}): InjectionSpecInput {
  return {
    vm: { name: 'vnf-a-vdu1-0', address: '198.51.100.10', ssh: { user: 'debian', privateKeyRef: { file: '/etc/vmsi/keys/a' } } },
    mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, gateway: { ip: '198.51.100.1' } },
    package: { source: 'mirror', url: 'http://mirror.example.net/istio-sidecar.deb', sha256: 'a'.repeat(64) },
    ...overrides,
  };
}
