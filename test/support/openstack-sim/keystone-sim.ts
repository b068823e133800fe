import { randomBytes } from 'node:crypto';
import { TEST_TOKEN_MARKER } from '../test-credentials.js';

/**
 * Keystone v3 password and application-credential authentication as the Identity API reference
 * defines it (POST /v3/auth/tokens), over a fixed set of users, projects and credentials. Every
 * secret and token carries the test-token marker, so the suite's run-log scan catches a leak.
 */

export interface SimDomain {
  id: string;
  name: string;
}

export interface SimUser {
  id: string;
  name: string;
  domain: SimDomain;
  password: string;
  /** Projects the user has a role on. */
  projectIds: string[];
}

export interface SimProject {
  id: string;
  name: string;
  domain: SimDomain;
}

export interface SimApplicationCredential {
  id: string;
  name: string;
  secret: string;
  userId: string;
  projectId: string;
}

export interface AuthOutcome {
  user: SimUser;
  project?: SimProject;
  method: 'password' | 'application_credential';
  applicationCredential?: SimApplicationCredential;
}

export interface AuthFailure {
  status: 400 | 401;
  message: string;
}

export const UNAUTHORIZED_MESSAGE = 'The request you have made requires authentication.';

export function makeSecret(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('base64url')}-${TEST_TOKEN_MARKER}`;
}

/** Fernet tokens start with gAAAAA and run to about 180 characters. */
export function makeToken(): string {
  return `gAAAAAB${randomBytes(96).toString('base64url')}${TEST_TOKEN_MARKER}`;
}

export class KeystoneDirectory {
  readonly domain: SimDomain = { id: 'default', name: 'Default' };
  readonly project: SimProject;
  readonly otherProject: SimProject;
  readonly user: SimUser;
  readonly applicationCredential: SimApplicationCredential;

  constructor(projectId: string) {
    this.project = { id: projectId, name: 'vnf-project', domain: this.domain };
    this.otherProject = { id: 'tenant-other', name: 'other-project', domain: this.domain };
    this.user = { id: 'c9b1c2a0e4f94e0f8f4d7a6c2b1e0d11', name: 'vmsi', domain: this.domain, password: makeSecret('pw'), projectIds: [projectId] };
    this.applicationCredential = { id: 'a3f0d1e2c4b54f6a8b7c9d0e1f2a3b4c', name: 'vmsi-injector', secret: makeSecret('ac'), userId: this.user.id, projectId };
  }

  authenticate(body: unknown): AuthOutcome | AuthFailure {
    const auth = field(body, 'auth');
    const identity = field(auth, 'identity');
    const methods = field(identity, 'methods');
    if (!Array.isArray(methods) || methods.length !== 1) return badRequest('auth.identity.methods must name one method');
    if (methods[0] === 'password') return this.byPassword(field(identity, 'password'), field(auth, 'scope'));
    if (methods[0] === 'application_credential') return this.byApplicationCredential(field(identity, 'application_credential'), field(auth, 'scope'));
    return { status: 401, message: UNAUTHORIZED_MESSAGE };
  }

  private byPassword(password: unknown, scope: unknown): AuthOutcome | AuthFailure {
    const userRef = field(password, 'user');
    const user = this.findUser(userRef);
    if (user === undefined || field(userRef, 'password') !== user.password) return { status: 401, message: UNAUTHORIZED_MESSAGE };
    if (scope === undefined) return { user, method: 'password' };
    const project = this.findProject(field(scope, 'project'));
    if (project === undefined || !user.projectIds.includes(project.id)) return { status: 401, message: UNAUTHORIZED_MESSAGE };
    return { user, project, method: 'password' };
  }

  private byApplicationCredential(reference: unknown, scope: unknown): AuthOutcome | AuthFailure {
    if (scope !== undefined) return { status: 401, message: 'Application credentials cannot request a scope.' };
    const credential = this.applicationCredential;
    const id = field(reference, 'id');
    const name = field(reference, 'name');
    if (id === undefined && name === undefined) return badRequest('application_credential needs id or name');
    const named = id === undefined && name === credential.name && this.findUser(field(reference, 'user'))?.id === credential.userId;
    if ((id !== credential.id && !named) || field(reference, 'secret') !== credential.secret) return { status: 401, message: UNAUTHORIZED_MESSAGE };
    return { user: this.user, project: this.project, method: 'application_credential', applicationCredential: credential };
  }

  private findUser(reference: unknown): SimUser | undefined {
    const id = field(reference, 'id');
    if (id !== undefined) return id === this.user.id ? this.user : undefined;
    return field(reference, 'name') === this.user.name && this.isDomain(field(reference, 'domain')) ? this.user : undefined;
  }

  private findProject(reference: unknown): SimProject | undefined {
    const id = field(reference, 'id');
    const projects = [this.project, this.otherProject];
    if (id !== undefined) return projects.find((project) => project.id === id);
    return projects.find((project) => project.name === field(reference, 'name') && this.isDomain(field(reference, 'domain')));
  }

  private isDomain(reference: unknown): boolean {
    return field(reference, 'id') === this.domain.id || field(reference, 'name') === this.domain.name;
  }
}

function badRequest(detail: string): AuthFailure {
  return { status: 400, message: `Invalid input for field 'identity': ${detail}` };
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** Keystone writes times with microseconds and a Z. */
export function keystoneTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
