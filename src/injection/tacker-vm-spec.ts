import type { TackerConfig } from '../config.js';
import { parseInjectionSpec, type InjectionSpec } from '../injection-spec.js';
import { chooseAddress, type AddressPreference, type ServerInfo } from '../openstack/server-directory.js';
import type { MeshParameters } from '../tacker/mesh-parameters.js';

export interface TackerVmSpecInput {
  server: ServerInfo;
  params: MeshParameters;
  defaults: TackerConfig['defaults'];
  addressPreference: AddressPreference;
}

function sshOf(params: MeshParameters, defaults: TackerConfig['defaults']): Record<string, unknown> {
  const ssh = params.ssh ?? defaults.ssh;
  return {
    user: ssh.user,
    ...(ssh.port === undefined ? {} : { port: ssh.port }),
    privateKeyRef: { secret: ssh.privateKeySecret },
    ...(ssh.hostKey === undefined ? {} : { hostKey: ssh.hostKey }),
  };
}

function meshOf(params: MeshParameters, defaults: TackerConfig['defaults']): Record<string, unknown> {
  const { vdus: _vdus, ssh: _ssh, ...mesh } = params;
  const fromDefaults = Object.fromEntries(Object.entries(defaults.mesh).filter(([, value]) => value !== undefined));
  return { ...fromDefaults, ...mesh };
}

/**
 * The spec for one Tacker-created VM: its address from Nova (Tacker never reports it), identity from
 * the resolved meshSidecar parameters, package and control plane from the plugin's defaults. Parsed
 * like any other spec, so a bad combination fails with the same problem list.
 */
export function buildTackerVmSpec(input: TackerVmSpecInput): InjectionSpec {
  const { server, params, defaults } = input;
  return parseInjectionSpec({
    vm: { name: server.name, serverId: server.id, address: chooseAddress(server, input.addressPreference), ssh: sshOf(params, defaults) },
    mesh: meshOf(params, defaults),
    package: defaults.package,
    delivery: { method: 'ssh', readyTimeout: defaults.readyTimeout },
  });
}
