/** Injected failures, matched per request before Gitea's own handling. */
export interface FaultSpec {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** API path below /api/v1 (no query): exact string, or a RegExp tested against it. */
  path: RegExp | string;
  /** Answer with this status (default 500 unless `timeoutMs` is set). */
  status?: 500 | 502 | 503 | 405 | 409;
  /** Hang this long, then drop the connection without an answer. */
  timeoutMs?: number;
  /** How many matching requests to affect (default: all). */
  times?: number;
  /** Response body (default: Gitea's `{message, url}` for the status). */
  body?: unknown;
  /**
   * The request takes effect (the handler runs and commits), and only then is the answer lost: replaced by
   * `status`, or, with `timeoutMs`, the connection is dropped after that wait. What a client sees on a timeout or a
   * 5xx from a proxy when Gitea had already done the work.
   */
  applied?: boolean;
}

interface ActiveFault extends FaultSpec {
  remaining: number;
}

const DEFAULT_MESSAGES: Record<number, string> = {
  500: '',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  405: 'Please try again later',
  409: 'merge conflict',
};

export class FaultInjector {
  private faults: ActiveFault[] = [];

  /** Adds a fault; the first matching fault with budget left wins. */
  add(spec: FaultSpec): void {
    this.faults.push({ ...spec, remaining: spec.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.faults = [];
  }

  /** The fault this request hits (consuming one use), if any. */
  take(method: string, path: string): (({ kind: 'status'; status: number; body: unknown } | { kind: 'timeout'; ms: number }) & { applied: boolean }) | null {
    const fault = this.faults.find(
      (f) =>
        f.remaining > 0 && (!f.method || f.method.toUpperCase() === method.toUpperCase()) && (typeof f.path === 'string' ? f.path === path : f.path.test(path)),
    );
    if (!fault) return null;
    fault.remaining -= 1;
    const applied = fault.applied === true;
    if (fault.timeoutMs !== undefined && fault.status === undefined) return { kind: 'timeout', ms: fault.timeoutMs, applied };
    const status = fault.status ?? 500;
    return { kind: 'status', status, body: fault.body ?? { message: DEFAULT_MESSAGES[status] ?? '', url: '/api/swagger' }, applied };
  }
}
