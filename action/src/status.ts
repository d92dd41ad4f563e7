/** The damascus/review commit status on the head SHA, so people see the verdict in Gitea. */

export const STATUS_CONTEXT = 'damascus/review';

export type CommitState = 'success' | 'failure' | 'error';

export interface StatusOptions {
  apiUrl: string;
  repository: string;
  sha: string;
  token: string;
  state: CommitState;
  description: string;
  targetUrl: string | null;
}

/** Returns null on success, else why it failed (a failed status is only a warning for the job). */
export async function postCommitStatus(opts: StatusOptions): Promise<string | null> {
  const url = `${opts.apiUrl}/repos/${opts.repository}/statuses/${opts.sha}`;
  const body: Record<string, string> = { state: opts.state, context: STATUS_CONTEXT, description: opts.description.slice(0, 140) };
  if (opts.targetUrl) body.target_url = opts.targetUrl;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `token ${opts.token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    if (res.ok) return null;
    return `HTTP ${res.status}: ${(await res.text()).slice(0, 500)}`;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return e.cause?.code ?? e.message;
  }
}
