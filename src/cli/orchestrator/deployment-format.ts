import type { DeploymentView, ServiceStatus } from '../../orchestrator/orchestrator-service.js';
import { formatStep } from '../job-format.js';

export function formatDeploymentLine(deployment: DeploymentView): string {
  const step = deployment.currentStep === undefined ? '' : `  step ${deployment.currentStep}`;
  return `${deployment.id}  ${deployment.kind.padEnd(8)}  ${deployment.state.padEnd(11)}  ${deployment.service}${step}`;
}

/** Deployment steps carry the fields job-format reads; the view only omits the times it does not show. */
export function formatDeploymentStep(step: DeploymentView['steps'][number]): string {
  return formatStep({ ...step, startedAt: null, finishedAt: null, output: null });
}

export function formatDeployment(deployment: DeploymentView): string {
  const lines = [formatDeploymentLine(deployment), `  state reason: ${deployment.stateReason || '-'}`, ...deployment.steps.map(formatDeploymentStep)];
  if (deployment.lastError) lines.push(`  last error: ${deployment.lastError.code}: ${deployment.lastError.message}`);
  return `${lines.join('\n')}\n`;
}

/** Left-aligned columns as wide as their widest cell in `rows`; no trailing blanks. */
function columnFormatter(rows: string[][], indent: string): (row: string[]) => string {
  const widths = rows.reduce<number[]>((acc, row) => row.map((cell, index) => Math.max(acc[index] ?? 0, cell.length)), []);
  return (row) => `${indent}${row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0))).join('  ')}`;
}

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

function microserviceLines(status: ServiceStatus): string[] {
  const headRow = (microservice: ServiceStatus['microservices'][number]): string[] => [microservice.name, microservice.kind, microservice.version, `ready ${yesNo(microservice.ready)}`];
  const workloadRow = (workload: ServiceStatus['microservices'][number]['workloads'][number]): string[] => [workload.name, `ready ${yesNo(workload.ready)}`, workload.detail];
  const head = columnFormatter(status.microservices.map(headRow), '  ');
  const workloads = columnFormatter(status.microservices.flatMap((microservice) => microservice.workloads.map(workloadRow)), '    ');
  return ['microservices:', ...status.microservices.flatMap((microservice) => [head(headRow(microservice)), ...microservice.workloads.map((workload) => workloads(workloadRow(workload)))])];
}

function connectionLines(status: ServiceStatus): string[] {
  const objectRow = (object: ServiceStatus['connections'][number]['objects'][number]): string[] => [object.key, object.present ? 'present' : 'missing'];
  const objects = columnFormatter(status.connections.flatMap((connection) => connection.objects.map(objectRow)), '    ');
  const lines = status.connections.flatMap((connection) => [`  ${connection.from} → ${connection.to} port ${connection.port}`, ...connection.objects.map((object) => objects(objectRow(object)))]);
  return ['connections:', ...(lines.length === 0 ? ['  none'] : lines)];
}

export function formatServiceStatus(status: ServiceStatus): string {
  const deployment = status.deployment;
  const lines = [
    `service: ${status.service}  namespace: ${status.namespace}`,
    deployment === null ? 'deployment: none' : `deployment: ${deployment.id} ${deployment.kind} ${deployment.state}, step ${deployment.currentStep ?? '-'}`,
    ...microserviceLines(status),
    ...connectionLines(status),
  ];
  if (status.problem !== undefined) lines.push(`problem: ${status.problem}`);
  return `${lines.join('\n')}\n`;
}
