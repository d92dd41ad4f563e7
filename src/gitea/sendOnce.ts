/**
 * A POST whose answer was lost (a timeout, a dropped connection, a 5xx) may still have taken effect: Gitea
 * commits first and answers after. Sending it again blindly doubles a comment, a PR or a review run. So a
 * POST is sent again only after `lookup` found no trace of it (a marker, a branch's PR, a run's title).
 */
import { GiteaError } from './errors.js';

export interface SendOnceOptions<T> {
  send: () => Promise<T>;
  /** What the POST would have made, if it exists; null when it does not. */
  lookup: () => Promise<T | null>;
  /** Sends in all (default 3). */
  attempts?: number;
  /** Wait before looking, doubled each time (default 500 ms): Gitea may still be finishing the first one. */
  backoffMs?: number;
}

/** True when the request may or may not have taken effect (no answer, or a server fault). */
export function outcomeUnknown(err: unknown): boolean {
  return err instanceof GiteaError && (err.status === null || err.status >= 500);
}

export async function sendOnce<T>(o: SendOnceOptions<T>): Promise<T> {
  const attempts = o.attempts ?? 3;
  const backoffMs = o.backoffMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await o.send();
    } catch (err) {
      if (!outcomeUnknown(err) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)));
      const found = await o.lookup();
      if (found !== null) return found;
    }
  }
}
