/**
 * HMAC-SHA256 signing of review results. Shared by the server's verifier and the review Action
 * (bundled into action/dist), so it depends on node:crypto only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-damascus-signature-256';
/** Names the repository whose per-project secret signed the body: the signature is checked before any parse. */
export const REPOSITORY_HEADER = 'x-damascus-repository';

const PREFIX = 'sha256=';
const HEADER_SHAPE = /^sha256=[0-9a-f]{64}$/;

function hmacHex(secret: string, data: string | Uint8Array): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

/** The signature header value for these exact body bytes: "sha256=<lowercase hex>". */
export function signBody(secret: string, body: string | Uint8Array): string {
  return PREFIX + hmacHex(secret, body);
}

/** True when `header` is the signature of `body` under `secret`; compared in constant time. */
export function verifySignature(secret: string, body: string | Uint8Array, header: string | undefined): boolean {
  if (typeof header !== 'string' || secret === '') return false;
  // Accept upper-case hex as well; anything else (bare hex, other algorithms) is malformed.
  const given = header.trim().toLowerCase();
  if (!HEADER_SHAPE.test(given)) return false;
  const expected = Buffer.from(signBody(secret, body), 'utf8');
  const actual = Buffer.from(given, 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * The per-project secret the server verifies a repository's results with. `damascus setup` stores it
 * as that repository's Actions secret DAMASCUS_CALLBACK_TOKEN, so one repo cannot sign for another.
 */
export function deriveProjectSecret(callbackSecret: string, repoFullName: string): string {
  return hmacHex(callbackSecret, `damascus-review:${repoFullName.toLowerCase()}`);
}

/**
 * The per-repository webhook secret: `damascus setup` installs it on that repository's hook and the intake
 * verifies a delivery with the one of the repository its payload names, so a secret learnt from one repo (its
 * admins can point the hook anywhere) signs for no other. Keyed apart from deriveProjectSecret's values.
 */
export function deriveWebhookSecret(webhookSecret: string, repoFullName: string): string {
  return hmacHex(webhookSecret, `damascus-webhook:${repoFullName.toLowerCase()}`);
}
