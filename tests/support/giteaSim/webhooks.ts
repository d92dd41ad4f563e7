import { createHmac, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { SimHook } from './state.js';

/** Every subscription name Gitea 1.26 takes in a hook's `events` (POST /repos/{o}/{r}/hooks; FACTS.md §b). */
export const HOOK_SUBSCRIPTIONS: readonly string[] = [
  'create',
  'delete',
  'fork',
  'push',
  'issues',
  'issues_only',
  'issue_assign',
  'issue_label',
  'issue_milestone',
  'issue_comment',
  'pull_request',
  'pull_request_only',
  'pull_request_assign',
  'pull_request_label',
  'pull_request_milestone',
  'pull_request_comment',
  'pull_request_review',
  'pull_request_review_request',
  'pull_request_sync',
  'wiki',
  'repository',
  'release',
  'package',
  'status',
  'workflow_run',
  'workflow_job',
];

/** Which hook subscription names turn on which event types ([G] routers/api/v1/utils/hook.go, modules/webhook/type.go). */
const SUBSCRIPTION_GROUPS: Record<string, string[]> = {
  issues: ['issues', 'issue_assign', 'issue_label', 'issue_milestone', 'issue_comment'],
  issues_only: ['issues'],
  pull_request: [
    'pull_request',
    'pull_request_assign',
    'pull_request_label',
    'pull_request_milestone',
    'pull_request_comment',
    'pull_request_review_approved',
    'pull_request_review_rejected',
    'pull_request_review_comment',
    'pull_request_sync',
    'pull_request_review_request',
  ],
  pull_request_only: ['pull_request'],
  pull_request_review: ['pull_request_review_approved', 'pull_request_review_rejected', 'pull_request_review_comment'],
};

/** The subscription names that turn on a whole family of sub-events (FACTS §b): Gitea stores each member instead. */
const GROUPS = ['issues', 'pull_request'] as const;

/**
 * The key Gitea stores for an event type (`HookEvents`): the event type itself, except that the three review
 * types share one key, the `pull_request_review` subscription that turns them all on.
 */
function storedKey(eventType: string): string {
  return SUBSCRIPTION_GROUPS.pull_request_review!.includes(eventType) ? 'pull_request_review' : eventType;
}

/**
 * The event list Gitea answers for a hook (`Webhook.EventsArray()`: the keys of its stored HookEvents map), given the
 * subscription names it was created with, derived from what each name turns on: `issues_only` is stored as `issues`,
 * a group as the key of each event type it turns on ([G] routers/api/v1/utils/hook.go `issuesHook`/`pullHook`).
 * Gitea's order is a map's; this keeps input order. tests/gitea/captures.test.ts holds it to a real hook's answer.
 */
export function storedHookEvents(subscribed: readonly string[]): string[] {
  const stored = subscribed.flatMap((name) =>
    (GROUPS as readonly string[]).includes(name) ? SUBSCRIPTION_GROUPS[name]!.map(storedKey) : [name.replace(/_only$/, '')],
  );
  return [...new Set(stored)];
}

/** X-Gitea-Event for an event type (`HookEventType.Event()`). */
export function groupedEvent(eventType: string): string {
  switch (eventType) {
    case 'issue_assign':
    case 'issue_label':
    case 'issue_milestone':
      return 'issues';
    case 'pull_request_assign':
    case 'pull_request_label':
    case 'pull_request_milestone':
    case 'pull_request_sync':
    case 'pull_request_review_request':
      return 'pull_request';
    case 'pull_request_comment':
      return 'issue_comment';
    case 'pull_request_review_approved':
      return 'pull_request_approved';
    case 'pull_request_review_rejected':
      return 'pull_request_rejected';
    case 'pull_request_review_comment':
      return 'pull_request_comment';
    default:
      return eventType;
  }
}

export function hookWants(hook: SimHook, eventType: string): boolean {
  if (!hook.active) return false;
  const subscribed = hook.events.length === 0 ? ['push'] : hook.events;
  return subscribed.some((name) => (SUBSCRIPTION_GROUPS[name] ?? [name]).includes(eventType));
}

export interface WebhookDelivery {
  /** X-Gitea-Delivery */
  id: string;
  hookId: number;
  url: string;
  /** X-Gitea-Event */
  event: string;
  /** X-Gitea-Event-Type */
  eventType: string;
  action: string | undefined;
  headers: Record<string, string>;
  /** The exact request body (2-space indented JSON). */
  body: string;
  /** HTTP status of the answer; null when none arrived (refused, timed out) or the delivery was dropped. */
  status: number | null;
  error?: string;
  dropped: boolean;
}

/** Gitea's header set for one delivery (FACTS §a; [G] services/webhook/deliver.go addDefaultHeaders). */
export function deliveryHeaders(opts: {
  id: string;
  event: string;
  eventType: string;
  body: string;
  secret: string;
  authorization?: string;
}): Record<string, string> {
  const sig256 = opts.secret ? createHmac('sha256', opts.secret).update(opts.body).digest('hex') : '';
  const sig1 = opts.secret ? createHmac('sha1', opts.secret).update(opts.body).digest('hex') : '';
  const headers: Record<string, string> = {
    'User-Agent': 'Go-http-client/1.1',
    'Content-Type': 'application/json',
    'X-Gitea-Delivery': opts.id,
    'X-Gogs-Delivery': opts.id,
    'X-GitHub-Delivery': opts.id,
    'X-Gitea-Event': opts.event,
    'X-Gogs-Event': opts.event,
    'X-GitHub-Event': opts.event,
    'X-Gitea-Event-Type': opts.eventType,
    'X-Gogs-Event-Type': opts.eventType,
    'X-GitHub-Event-Type': opts.eventType,
    'X-Gitea-Signature': sig256,
    'X-Gogs-Signature': sig256,
    'X-Hub-Signature': `sha1=${sig1}`,
    'X-Hub-Signature-256': `sha256=${sig256}`,
    'X-Gitea-Hook-Installation-Target-Type': 'repository',
    'X-GitHub-Hook-Installation-Target-Type': 'repository',
  };
  if (opts.authorization) headers.Authorization = opts.authorization;
  return headers;
}

interface QueuedDelivery {
  hook: SimHook;
  eventType: string;
  payload: Record<string, unknown>;
}

/**
 * Gitea's delivery behaviour: snapshot the payload when the event happens, queue it, POST it asynchronously,
 * 5 s timeout, at most once, no retry. Gitea's queue runs several workers, so with `workers` > 1 deliveries are
 * sent in parallel and can arrive out of order (FACTS §0). Chaos switches drop, duplicate or hold deliveries.
 */
export class WebhookQueue {
  readonly deliveries: WebhookDelivery[] = [];
  private queue: QueuedDelivery[] = [];
  private running: Promise<void> | null = null;
  private drop = false;
  private held = false;
  private duplicate: 'off' | 'same-id' | 'new-id' = 'off';

  constructor(
    private readonly timeoutMs: number,
    private readonly workers: number = 1,
  ) {}

  /** Queues the event for every hook that subscribes to it. */
  emit(hooks: SimHook[], eventType: string, payload: Record<string, unknown>): void {
    // Snapshot now: later state changes must not leak into an earlier event.
    const snapshot = JSON.parse(JSON.stringify(payload)) as Record<string, unknown>;
    for (const hook of hooks) if (hookWants(hook, eventType)) this.queue.push({ hook, eventType, payload: snapshot });
    this.kick();
  }

  /** Sends one delivery to one hook now, whatever it subscribes to (a hook's test delivery). */
  emitTo(hook: SimHook, eventType: string, payload: Record<string, unknown>): void {
    this.queue.push({ hook, eventType, payload: JSON.parse(JSON.stringify(payload)) as Record<string, unknown> });
    this.kick();
  }

  setDrop(on: boolean): void {
    this.drop = on;
  }

  setDuplicate(mode: 'off' | 'same-id' | 'new-id'): void {
    this.duplicate = mode;
  }

  /** Queue without sending until release(). */
  hold(): void {
    this.held = true;
  }

  /** Send what was held, oldest first (`fifo`) or newest first (`reverse`). */
  release(order: 'fifo' | 'reverse'): void {
    this.held = false;
    if (order === 'reverse') this.queue.reverse();
    this.kick();
  }

  /** Resolves once every queued delivery has been attempted (held ones excepted). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (this.held) return;
    this.running ??= Promise.all(Array.from({ length: Math.max(1, this.workers) }, () => this.drain()))
      .then(() => undefined)
      .finally(() => {
        this.running = null;
        if (this.queue.length > 0 && !this.held) this.kick();
      });
  }

  private async drain(): Promise<void> {
    for (let next = this.held ? undefined : this.queue.shift(); next; next = this.held ? undefined : this.queue.shift()) {
      const id = randomUUID();
      await this.send(next, id);
      if (this.duplicate !== 'off') await this.send(next, this.duplicate === 'same-id' ? id : randomUUID());
    }
  }

  private async send(item: QueuedDelivery, id: string): Promise<void> {
    const body = JSON.stringify(item.payload, null, 2);
    const event = groupedEvent(item.eventType);
    const headers = deliveryHeaders({
      id,
      event,
      eventType: item.eventType,
      body,
      secret: item.hook.secret,
      authorization: item.hook.authorizationHeader || undefined,
    });
    const record: WebhookDelivery = {
      id,
      hookId: item.hook.id,
      url: item.hook.url,
      event,
      eventType: item.eventType,
      action: typeof item.payload.action === 'string' ? item.payload.action : undefined,
      headers,
      body,
      status: null,
      dropped: this.drop,
    };
    this.deliveries.push(record);
    if (this.drop) return;
    try {
      record.status = await post(item.hook.url, headers, body, this.timeoutMs);
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
    }
  }
}

/**
 * One POST the way Go's http.Client sends it: only the hook's headers plus Host, Content-Length and
 * Accept-Encoding: gzip (fetch would add Accept, Accept-Language and Sec-Fetch-Mode, which Gitea never sends).
 */
function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { ...headers, 'Accept-Encoding': 'gzip', 'Content-Length': String(Buffer.byteLength(body)) },
      agent: false,
    });
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}
