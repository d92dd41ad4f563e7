/**
 * Who may steer: write, admin or owner on the repo (GET …/collaborators/{user}/permission),
 * cached briefly so a busy issue does not cost one API call per comment.
 */
import type { GiteaClient } from './client.js';
import { GiteaError } from './errors.js';
import type { RepoPermission } from './types.js';

export interface PermissionCache {
  /** True when `login` has write access or more. Throws GiteaError when Gitea cannot say. */
  canWrite(owner: string, repo: string, login: string): Promise<boolean>;
}

const WRITERS: ReadonlySet<RepoPermission> = new Set(['write', 'admin', 'owner']);

export function createPermissionCache(opts: {
  gitea: Pick<GiteaClient, 'getCollaboratorPermission'>;
  ttlMs?: number;
  now?: () => number;
}): PermissionCache {
  const ttlMs = opts.ttlMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { writer: boolean; until: number }>();
  return {
    async canWrite(owner, repo, login) {
      const key = `${owner}/${repo}/${login}`.toLowerCase();
      const hit = cache.get(key);
      if (hit && hit.until > now()) return hit.writer;
      let writer: boolean;
      try {
        writer = WRITERS.has(await opts.gitea.getCollaboratorPermission(owner, repo, login));
      } catch (err) {
        // 404: no such user (or a repo the bot cannot see): no write access either way.
        if (!(err instanceof GiteaError && err.status === 404)) throw err;
        writer = false;
      }
      cache.set(key, { writer, until: now() + ttlMs });
      return writer;
    },
  };
}
