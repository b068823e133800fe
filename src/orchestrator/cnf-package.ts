import { stringify } from 'yaml';
import { cnfDeploymentManifest } from './desired-objects.js';
import type { CnfMicroservice, ServiceDescriptor } from './service-descriptor.js';

/**
 * The Kubernetes definition files of a CNF's VNF package. Tacker v2 creates a CNF from files
 * inside the on-boarded package, named in the instantiate request's
 * `additionalParams.lcm-kubernetes-def-files` (doc/source/user/v2/cnf/deployment), so the
 * orchestrator renders the files and references them by the same paths; the operator puts them
 * under Files/kubernetes/ of the package whose VNFD names a VDU with `properties.name` equal to the
 * microservice name.
 */

/** Where Tacker's CNF samples keep Kubernetes object files in a CSAR. */
export const CNF_DEFINITION_DIR = 'Files/kubernetes';

export function cnfDeploymentFilePath(microservice: CnfMicroservice): string {
  return `${CNF_DEFINITION_DIR}/${microservice.name}-deployment.yaml`;
}

/** Path in the package → YAML text, in the order Tacker creates them (the order of lcm-kubernetes-def-files). */
export function cnfPackageFiles(descriptor: ServiceDescriptor, microservice: CnfMicroservice): Map<string, string> {
  return new Map([[cnfDeploymentFilePath(microservice), stringify(cnfDeploymentManifest(descriptor, microservice), { lineWidth: 0, sortMapEntries: true, aliasDuplicateObjects: false })]]);
}
