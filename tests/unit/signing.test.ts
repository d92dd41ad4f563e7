import { createHmac } from 'node:crypto';
import { SIGNATURE_HEADER, deriveProjectSecret, deriveWebhookSecret, signBody, verifySignature } from '../../src/shared/signing.js';

describe('signBody', () => {
  test('matches the published HMAC-SHA256 test vector, with the sha256= prefix', () => {
    // Wikipedia's HMAC example: HMAC_SHA256("key", "The quick brown fox jumps over the lazy dog").
    expect(signBody('key', 'The quick brown fox jumps over the lazy dog')).toBe('sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
  });

  test('signs the bytes: a string and its UTF-8 bytes give the same signature', () => {
    const body = '{"outputTail":"résumé ✓"}';
    expect(signBody('s3cret', new TextEncoder().encode(body))).toBe(signBody('s3cret', body));
  });
});

describe('verifySignature', () => {
  const secret = 'per-project-secret';
  const body = JSON.stringify({ version: 1, passed: true });
  const good = signBody(secret, body);

  test('accepts the signature of the exact body, as string or bytes', () => {
    expect(verifySignature(secret, body, good)).toBe(true);
    expect(verifySignature(secret, Buffer.from(body), good)).toBe(true);
    expect(verifySignature(secret, body, good.toUpperCase().replace('SHA256=', 'sha256='))).toBe(true);
  });

  test('rejects a changed body, another secret, and missing or malformed headers', () => {
    expect(verifySignature(secret, body.replace('true', 'false'), good)).toBe(false);
    expect(verifySignature(secret, `${body} `, good)).toBe(false);
    expect(verifySignature('other-secret', body, good)).toBe(false);
    expect(verifySignature(secret, body, undefined)).toBe(false);
    expect(verifySignature(secret, body, '')).toBe(false);
    expect(verifySignature(secret, body, good.slice('sha256='.length))).toBe(false); // bare hex (X-Gitea-Signature style)
    expect(verifySignature(secret, body, good.replace('sha256=', 'sha1='))).toBe(false);
    expect(verifySignature(secret, body, good.slice(0, -2))).toBe(false);
    expect(verifySignature(secret, body, `${good}00`)).toBe(false);
    expect(verifySignature(secret, body, `${good.slice(0, -1)}g`)).toBe(false);
  });

  test('an empty secret verifies nothing (an unset secret must not accept its own signature)', () => {
    expect(verifySignature('', body, signBody('', body))).toBe(false);
  });

  test('the header name is the lowercase x-damascus-signature-256 (Node lowercases incoming headers)', () => {
    expect(SIGNATURE_HEADER).toBe('x-damascus-signature-256');
  });
});

describe('deriveProjectSecret', () => {
  test('is the hex HMAC of "damascus-review:<lowercased owner/repo>" under the callback secret', () => {
    const expected = createHmac('sha256', 'callback').update('damascus-review:acme/widgets').digest('hex');
    expect(deriveProjectSecret('callback', 'Acme/Widgets')).toBe(expected);
    expect(deriveProjectSecret('callback', 'acme/widgets')).toBe(expected);
  });

  test('differs per repository and per callback secret, so one repo cannot sign for another', () => {
    const a = deriveProjectSecret('callback', 'acme/widgets');
    expect(deriveProjectSecret('callback', 'acme/gadgets')).not.toBe(a);
    expect(deriveProjectSecret('other', 'acme/widgets')).not.toBe(a);
    const body = '{"workItem":1}';
    expect(verifySignature(deriveProjectSecret('callback', 'acme/gadgets'), body, signBody(a, body))).toBe(false);
  });
});

describe('deriveWebhookSecret', () => {
  test('is the hex HMAC of "damascus-webhook:<lowercased owner/repo>", apart from the review secret of the same inputs', () => {
    const expected = createHmac('sha256', 'hooks').update('damascus-webhook:acme/widgets').digest('hex');
    expect(deriveWebhookSecret('hooks', 'Acme/Widgets')).toBe(expected);
    expect(deriveWebhookSecret('hooks', 'acme/widgets')).not.toBe(deriveProjectSecret('hooks', 'acme/widgets'));
  });

  test('differs per repository and per master secret, and is never the master secret itself', () => {
    const a = deriveWebhookSecret('hooks', 'acme/widgets');
    expect(new Set([a, deriveWebhookSecret('hooks', 'acme/gadgets'), deriveWebhookSecret('other', 'acme/widgets'), 'hooks']).size).toBe(4);
  });
});
