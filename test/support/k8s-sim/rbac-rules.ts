import { parseAllDocuments } from 'yaml';
import type { AccessRule } from './kubernetes-simulator.js';

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs?: string[];
}

interface RbacObject {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/**
 * The simulator's rules for one service account, from RBAC manifests the way the RBAC authorizer
 * reads them: a RoleBinding grants its Role or ClusterRole in the binding's namespace only, a
 * ClusterRoleBinding grants a ClusterRole everywhere.
 */
export function rulesForServiceAccount(manifests: string, serviceAccount: { namespace: string; name: string }): AccessRule[] {
  const objects = parseAllDocuments(manifests).map((document) => document.toJS() as RbacObject | null).filter((object): object is RbacObject => object !== null);
  const roles = new Map(objects.filter((object) => object.kind === 'Role' || object.kind === 'ClusterRole').map((object) => [`${object.kind}/${object.metadata?.namespace ?? ''}/${object.metadata?.name}`, object]));
  const rules: AccessRule[] = [];
  for (const binding of objects.filter((object) => object.kind === 'RoleBinding' || object.kind === 'ClusterRoleBinding')) {
    const isSubject = (binding.subjects ?? []).some((subject) => subject.kind === 'ServiceAccount' && subject.name === serviceAccount.name && subject.namespace === serviceAccount.namespace);
    if (!isSubject || binding.roleRef === undefined) continue;
    const roleNamespace = binding.roleRef.kind === 'Role' ? (binding.metadata?.namespace ?? '') : '';
    const role = roles.get(`${binding.roleRef.kind}/${roleNamespace}/${binding.roleRef.name}`);
    const namespaces = binding.kind === 'RoleBinding' ? [binding.metadata?.namespace ?? 'default'] : undefined;
    for (const rule of role?.rules ?? []) {
      rules.push({
        verbs: rule.verbs ?? [],
        resources: rule.resources ?? [],
        ...(namespaces === undefined ? {} : { namespaces }),
        ...(rule.resourceNames === undefined ? {} : { resourceNames: rule.resourceNames }),
      });
    }
  }
  return rules;
}
