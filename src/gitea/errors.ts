/**
 * A failed Gitea API call. Carries what a caller needs to decide (status, retryable) and what a person needs
 * to debug (method, API path, Gitea's message) — never the token or the base URL's credentials.
 */
export class GiteaError extends Error {
  override readonly name = 'GiteaError';
  /** HTTP status, or null when no response arrived (network error, timeout). */
  readonly status: number | null;
  readonly method: string;
  /** API path below /api/v1, without the query string (e.g. `/repos/o/r/pulls`). */
  readonly path: string;
  /** Parsed response body, when there was one. */
  readonly body?: unknown;
  /** True for 5xx, 429 and transport failures: the client already retried these. */
  readonly retryable: boolean;

  constructor(opts: { status: number | null; method: string; path: string; body?: unknown; detail?: string; cause?: unknown }) {
    const what = opts.status === null ? (opts.detail ?? 'no response') : `${opts.status}${opts.detail ? `: ${opts.detail}` : ''}`;
    super(`Gitea ${opts.method} ${opts.path} → ${what}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = opts.status;
    this.method = opts.method;
    this.path = opts.path;
    if (opts.body !== undefined) this.body = opts.body;
    this.retryable = isRetryableStatus(opts.status);
  }
}

/** The call's value, or null when Gitea answered 404 (no such thing); any other failure is thrown. */
export async function orNullIfNotFound<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof GiteaError && err.status === 404) return null;
    throw err;
  }
}

/** Statuses worth retrying by the transport: server faults, throttling, and no response at all. */
export function isRetryableStatus(status: number | null): boolean {
  return status === null || status === 429 || status >= 500;
}

/** Gitea's error bodies are `{message, url}`; pull the message out of whatever came back. */
export function giteaMessage(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'message' in body && typeof (body as { message: unknown }).message === 'string') {
    return (body as { message: string }).message;
  }
  if (typeof body === 'string' && body.length > 0) return body.slice(0, 300);
  return undefined;
}
