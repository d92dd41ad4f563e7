/**
 * Who may steer: write, admin or owner on the repo (GET …/collaborators/{user}/permission), cached briefly for
 * the inbox so a busy issue does not cost one API call per comment.
 */
import type { GiteaClient } from './client.js';
import { orNullIfNotFound } from './errors.js';
import type { RepoPermission } from './types.js';

export interface PermissionCache {
  /** True when `login` has write access or more. Throws GiteaError when Gitea cannot say. */
  canWrite(owner: string, repo: string, login: string): Promise<boolean>;
}

const WRITERS: ReadonlySet<RepoPermission> = new Set(['write', 'admin', 'owner']);

/**
 * The one rule of who counts as a writer (answers, commands, closing a story, vouching for a labelled story):
 * write, admin or owner on the repo. A login Gitea does not know (404) is no writer. Throws GiteaError when Gitea
 * cannot say.
 */
export async function isWriter(gitea: Pick<GiteaClient, 'getCollaboratorPermission'>, owner: string, repo: string, login: string): Promise<boolean> {
  // 404: no such user (or a repo the bot cannot see): no write access either way.
  const permission = await orNullIfNotFound(gitea.getCollaboratorPermission(owner, repo, login));
  return permission !== null && WRITERS.has(permission);
}

export function createPermissionCache(opts: { gitea: Pick<GiteaClient, 'getCollaboratorPermission'>; ttlMs?: number; now?: () => number }): PermissionCache {
  const ttlMs = opts.ttlMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { writer: boolean; until: number }>();
  return {
    async canWrite(owner, repo, login) {
      const key = `${owner}/${repo}/${login}`.toLowerCase();
      const hit = cache.get(key);
      if (hit && hit.until > now()) return hit.writer;
      const writer = await isWriter(opts.gitea, owner, repo, login);
      cache.set(key, { writer, until: now() + ttlMs });
      return writer;
    },
  };
}
