import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { cnfPackageFiles } from '../../../orchestrator/cnf-package.js';
import { isCnf, parseServiceDescriptor } from '../../../orchestrator/service-descriptor.js';
import { readDescriptorFile } from '../descriptor-file.js';

interface CnfFilesOptions {
  out: string;
  json?: boolean;
}

/**
 * Local, like `vmsi render`: the files go into the CNF packages the operator on-boards in Tacker
 * before the first deployment, so they are needed where no service runs yet.
 */
async function writeCnfFiles(file: string, options: CnfFilesOptions): Promise<void> {
  const descriptor = parseServiceDescriptor((await readDescriptorFile(file)).text);
  const written: Array<{ microservice: string; vnfdId: string; file: string }> = [];
  for (const microservice of descriptor.spec.microservices.filter(isCnf)) {
    for (const [packagePath, text] of cnfPackageFiles(descriptor, microservice)) {
      const target = path.join(options.out, microservice.name, packagePath);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, text);
      written.push({ microservice: microservice.name, vnfdId: microservice.tacker.vnfdId, file: target });
    }
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ files: written })}\n`);
  else if (written.length === 0) process.stdout.write('No container microservice has via: tacker; nothing written.\n');
  else for (const entry of written) process.stdout.write(`${entry.file}  (package of VNFD ${entry.vnfdId}, microservice ${entry.microservice})\n`);
}

export function registerCnfFilesCommand(group: Command): void {
  group
    .command('cnf-files <file>')
    .description('Write the Kubernetes definition files of each via: tacker microservice, laid out as in its CNF package (<out>/<microservice>/Files/kubernetes/…)')
    .requiredOption('-o, --out <dir>', 'directory to write into')
    .option('--json', 'print the written files as JSON')
    .action((file: string, options: CnfFilesOptions) => writeCnfFiles(file, options));
}
