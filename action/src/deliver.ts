/** POSTs the signed review result to the orchestrator, retrying what a retry can fix. */
import { randomUUID } from 'node:crypto';
import { REPOSITORY_HEADER, SIGNATURE_HEADER, signBody } from '../../src/shared/signing.js';

export const DELIVERY_HEADER = 'x-damascus-delivery';

export interface DeliverOptions {
  url: string;
  secret: string;
  /** owner/repo: names the per-project secret the server verifies the signature with (before it parses the body). */
  repository: string;
  /** The exact bytes that are signed and sent. */
  body: string;
  /** Give up retrying after this long (the last attempt may still be running until it ends). */
  totalTimeoutMs: number;
  firstBackoffMs?: number;
  maxBackoffMs?: number;
  /** Per-attempt cap. */
  attemptTimeoutMs?: number;
  log?: (msg: string) => void;
}

export type DeliveryOutcome =
  | { ok: true; status: number; attempts: number; deliveryId: string }
  /** 4xx: the orchestrator read the result and said no; retrying would not change its mind. */
  | { ok: false; kind: 'refused'; status: number; responseBody: string; attempts: number; deliveryId: string }
  /** 5xx or network errors until the time ran out. */
  | { ok: false; kind: 'undelivered'; lastError: string; attempts: number; deliveryId: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MAX_ERROR_BODY = 2_000;

export async function deliverResult(opts: DeliverOptions): Promise<DeliveryOutcome> {
  const deliveryId = randomUUID(); // the same id on every retry, so the server can recognise a repeat
  const signature = signBody(opts.secret, opts.body);
  const deadline = Date.now() + opts.totalTimeoutMs;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  let backoff = opts.firstBackoffMs ?? 1_000;
  let attempts = 0;
  let lastError = 'no attempt was made';
  for (;;) {
    attempts++;
    const remaining = Math.max(1, deadline - Date.now());
    try {
      const res = await fetch(opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [REPOSITORY_HEADER]: opts.repository, [SIGNATURE_HEADER]: signature, [DELIVERY_HEADER]: deliveryId },
        body: opts.body,
        signal: AbortSignal.timeout(Math.min(opts.attemptTimeoutMs ?? 30_000, remaining)),
        redirect: 'error', // a redirect would re-send the signed body somewhere else
      });
      const text = (await res.text()).slice(0, MAX_ERROR_BODY);
      if (res.ok) return { ok: true, status: res.status, attempts, deliveryId };
      if (res.status < 500) return { ok: false, kind: 'refused', status: res.status, responseBody: text, attempts, deliveryId };
      lastError = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      lastError = e.cause?.code ?? e.cause?.message ?? e.message;
    }
    // Retry only if the next attempt would start before the deadline.
    if (Date.now() + backoff >= deadline) return { ok: false, kind: 'undelivered', lastError, attempts, deliveryId };
    opts.log?.(`delivery attempt ${attempts} failed (${lastError}); retrying in ${backoff} ms`);
    await sleep(backoff);
    backoff = Math.min(backoff * 2, maxBackoff);
  }
}
