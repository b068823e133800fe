import type { InjectionSpec } from '../injection-spec.js';
import { AppError } from '../errors.js';
import type { SshEndpoint, SshTarget } from './vm-shell.js';

/** One job at a time per VM: the Nova server id when known, else the address. */
export function subjectKeyOf(spec: InjectionSpec): string {
  return spec.vm.serverId ?? spec.vm.address;
}

function endpointKey(host: string, port: number, serverId: string | undefined): string {
  if (serverId !== undefined) return serverId;
  return `[${host}]:${port}`;
}

export function sshTargetOf(spec: InjectionSpec): SshTarget {
  const ssh = spec.vm.ssh;
  if (ssh === undefined) throw new AppError('INVALID_SPEC', 'The spec has no vm.ssh, so the VM cannot be reached over SSH.', { problems: [{ path: 'vm.ssh', message: 'required for SSH delivery and removal' }] });
  const target: SshTarget = {
    host: spec.vm.address,
    port: ssh.port,
    user: ssh.user,
    privateKeyRef: ssh.privateKeyRef,
    hostKey: ssh.hostKey,
    serverKey: endpointKey(spec.vm.address, ssh.port, spec.vm.serverId),
  };
  if (ssh.jumpHost === undefined) return target;
  const jump = ssh.jumpHost;
  const jumpHost: SshEndpoint = {
    host: jump.address,
    port: jump.port,
    user: jump.user,
    privateKeyRef: jump.privateKeyRef,
    hostKey: jump.hostKey,
    serverKey: endpointKey(jump.address, jump.port, undefined),
  };
  return { ...target, jumpHost };
}

/** Root needs no sudo; every other login user runs the script through `sudo -n`. */
export function needsSudo(spec: InjectionSpec): boolean {
  return spec.vm.ssh?.user !== 'root';
}
