import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * CPU and memory of a controller's whole process tree, from /proc: the injector is one process,
 * Ansible a playbook process with one fork per host plus an ssh client each, the floor one ssh
 * client per VM. CPU is user+sys of every process in the tree, exited ones included (their time
 * is folded into their parent's cutime/cstime once reaped); memory is the peak of the summed RSS
 * of the tree, sampled.
 */
const CLOCK_TICKS_PER_SECOND = 100;
const SAMPLE_INTERVAL_MS = 50;

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  cpuTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or parentheses.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index] ?? 0), 0);
    return { pid, ppid: Number(fields[1]), cpuTicks: ticks };
  } catch {
    return undefined;
  }
}

function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(match?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function allStats(): ProcStat[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => readStat(Number(entry)) ?? []);
}

/** The root and its live descendants. */
export function processTree(rootPid: number): ProcStat[] {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const root = stats.find((stat) => stat.pid === rootPid);
  if (root === undefined) return [];
  const tree: ProcStat[] = [];
  const queue = [root];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    tree.push(next);
    queue.push(...(children.get(next.pid) ?? []));
  }
  return tree;
}

export function treeCpuMs(rootPid: number): number {
  return (processTree(rootPid).reduce((sum, stat) => sum + stat.cpuTicks, 0) / CLOCK_TICKS_PER_SECOND) * 1000;
}

export function treeRssBytes(rootPid: number): number {
  return processTree(rootPid).reduce((sum, stat) => sum + rssBytes(stat.pid), 0);
}

/** Samples the summed RSS of a tree until stopped; the peak is what it reports. */
export class PeakRssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly rootPid: () => number | undefined) {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  private sample(): void {
    const pid = this.rootPid();
    if (pid !== undefined) this.peak = Math.max(this.peak, treeRssBytes(pid));
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** Resets the kernel's high-water mark of a long-running process, so VmHWM covers one run only. */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

export function peakRssBytes(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}
