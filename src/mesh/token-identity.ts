import { AppError } from '../errors.js';

interface TokenClaims {
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
}

function decodeClaims(token: string): TokenClaims {
  const payload = token.split('.')[1];
  if (token.split('.').length !== 3 || !payload) {
    throw new AppError('CREDENTIALS_UNAVAILABLE', 'The service account token is not a JWT.');
  }
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
  } catch (cause) {
    throw new AppError('CREDENTIALS_UNAVAILABLE', 'The service account token has an unreadable payload.', { cause });
  }
}

export interface ExpectedTokenIdentity {
  namespace: string;
  serviceAccount: string;
  audience: string;
  /** The token must stay valid at least this long, to cover boot and package download. */
  minimumRemainingMs: number;
  nowMs: number;
}

/**
 * Istio users' lesson: a token for another service account than the WorkloadGroup's yields a
 * certificate for the wrong identity, silently. Check before anything reaches a VM.
 */
export function checkTokenIdentity(token: string, expected: ExpectedTokenIdentity): void {
  const claims = decodeClaims(token);
  const subject = `system:serviceaccount:${expected.namespace}:${expected.serviceAccount}`;
  if (claims.sub !== subject) {
    throw new AppError('MESH_INCONSISTENT', `The token is not for service account ${expected.namespace}/${expected.serviceAccount}.`, {
      details: { expectedSubject: subject, tokenSubject: typeof claims.sub === 'string' ? claims.sub : null },
    });
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(expected.audience)) {
    throw new AppError('MESH_INCONSISTENT', `The token's audience does not include ${expected.audience}.`);
  }
  if (typeof claims.exp === 'number' && claims.exp * 1000 < expected.nowMs + expected.minimumRemainingMs) {
    throw new AppError('CREDENTIALS_UNAVAILABLE', 'The service account token expires too soon to bootstrap a VM.', {
      retryable: true,
      details: { expiresAt: new Date(claims.exp * 1000).toISOString() },
    });
  }
}
