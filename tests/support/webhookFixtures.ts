import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const WEBHOOK_DIR = process.env.GITEA_WEBHOOKS_DIR ?? join(process.cwd(), '..', 'shared', 'gitea', 'webhooks');

export interface Fixture {
  file: string;
  event: string;
  eventType: string;
  payload: Record<string, unknown>;
}

/** The real captured payloads with the X-Gitea-Event / X-Gitea-Event-Type the manifest derives from Gitea's source. */
export function loadFixtures(): Fixture[] {
  const manifest = readFileSync(join(WEBHOOK_DIR, 'manifest.tsv'), 'utf8').trim().split('\n').slice(1);
  const byFile = new Map(manifest.map((l) => { const [file, event, type] = l.split('\t'); return [file!, { event: event!, eventType: type! }]; }));
  return readdirSync(WEBHOOK_DIR).filter((f) => f.endsWith('.json')).sort().map((file) => {
    const h = byFile.get(file);
    if (!h) throw new Error(`${file} is not in manifest.tsv`);
    return { file, ...h, payload: JSON.parse(readFileSync(join(WEBHOOK_DIR, file), 'utf8')) };
  });
}

/** The headers Gitea sends (FACTS §a), with signatures over the exact body bytes. */
export function giteaHeaders(body: string, secret: string, event: string, eventType: string, delivery: string = randomUUID()): Record<string, string> {
  const sha256 = createHmac('sha256', secret).update(body).digest('hex');
  const sha1 = createHmac('sha1', secret).update(body).digest('hex');
  return {
    'content-type': 'application/json',
    'user-agent': 'Go-http-client/1.1',
    'x-gitea-delivery': delivery, 'x-gogs-delivery': delivery, 'x-github-delivery': delivery,
    'x-gitea-event': event, 'x-gogs-event': event, 'x-github-event': event,
    'x-gitea-event-type': eventType, 'x-gogs-event-type': eventType, 'x-github-event-type': eventType,
    'x-gitea-signature': sha256, 'x-gogs-signature': sha256,
    'x-hub-signature': `sha1=${sha1}`, 'x-hub-signature-256': `sha256=${sha256}`,
    'x-gitea-hook-installation-target-type': 'repository', 'x-github-hook-installation-target-type': 'repository',
  };
}

/** Gitea's body: 2-space indented JSON. */
export const giteaBody = (payload: unknown) => JSON.stringify(payload, null, 2);

/** An `issues` payload (IssuePayload) built on the real issues.opened.json capture. */
export function issuePayload(opts: { action: string; number: number; labels: string[]; sender?: string; state?: 'open' | 'closed'; repo?: string; repoId?: number; title?: string; body?: string }): Record<string, unknown> {
  const base = JSON.parse(readFileSync(join(WEBHOOK_DIR, 'issues.opened.json'), 'utf8'));
  const [owner, name] = (opts.repo ?? 'acme/widgets').split('/');
  base.action = opts.action;
  base.number = opts.number;
  base.issue.number = opts.number;
  base.issue.title = opts.title ?? `story ${opts.number}`;
  base.issue.body = opts.body ?? 'As a user I want a widget.';
  base.issue.state = opts.state ?? 'open';
  base.issue.html_url = `http://localhost:3000/${owner}/${name}/issues/${opts.number}`;
  base.issue.labels = opts.labels.map((l, i) => ({ id: 100 + i, name: l, color: 'ee0701', description: '', url: '', exclusive: false, is_archived: false }));
  base.repository.name = name;
  if (opts.repoId !== undefined) base.repository.id = opts.repoId;
  base.repository.full_name = `${owner}/${name}`;
  base.repository.owner.login = owner;
  base.repository.owner.username = owner;
  base.sender.login = opts.sender ?? 'alice';
  base.sender.username = opts.sender ?? 'alice';
  return base;
}

/** An `issue_comment` payload (IssueCommentPayload) on a plain issue, built from the same capture's objects. */
export function commentPayload(opts: { number: number; body: string; sender?: string; commentId?: number; repo?: string }): Record<string, unknown> {
  const issue = issuePayload({ action: 'opened', number: opts.number, labels: [], sender: opts.sender, repo: opts.repo });
  const user = issue.sender;
  return {
    action: 'created',
    issue: issue.issue,
    comment: {
      id: opts.commentId ?? Math.floor(Math.random() * 1e6), html_url: '', pull_request_url: '', issue_url: '', user, original_author: '',
      original_author_id: 0, body: opts.body, assets: [], created_at: new Date().toISOString(), updated_at: new Date().toISOString(),
    },
    repository: issue.repository,
    sender: user,
    is_pull: false,
  };
}
