import { GiteaError } from '../../src/gitea/errors.js';
import { createPermissionCache, isWriter } from '../../src/gitea/permissions.js';
import type { RepoPermission } from '../../src/gitea/types.js';

/** A Gitea that knows these users' permissions on every repo, answers 404 for anyone else and 500 for `broken`. */
function gitea(known: Record<string, RepoPermission>) {
  const asked: string[] = [];
  return {
    asked,
    async getCollaboratorPermission(_owner: string, _repo: string, login: string): Promise<RepoPermission> {
      asked.push(login);
      if (login === 'broken') throw new GiteaError({ status: 500, method: 'GET', path: `/repos/o/r/collaborators/${login}/permission` });
      const p = known[login];
      if (p === undefined) throw new GiteaError({ status: 404, method: 'GET', path: `/repos/o/r/collaborators/${login}/permission` });
      return p;
    },
  };
}

describe('who counts as a writer (src/gitea/permissions.ts)', () => {
  const g = gitea({ w: 'write', a: 'admin', o: 'owner', r: 'read', n: 'none' });

  test('write, admin and owner do; read, none and a user Gitea does not know do not', async () => {
    const verdicts = await Promise.all(['w', 'a', 'o', 'r', 'n', 'ghost'].map(async (login) => [login, await isWriter(g, 'o', 'r', login)]));
    expect(Object.fromEntries(verdicts)).toEqual({ w: true, a: true, o: true, r: false, n: false, ghost: false });
  });

  test('a Gitea that cannot say is an error, not a verdict', async () => {
    await expect(isWriter(g, 'o', 'r', 'broken')).rejects.toThrow(GiteaError);
    await expect(createPermissionCache({ gitea: g }).canWrite('o', 'r', 'broken')).rejects.toThrow(GiteaError);
  });

  test('the inbox cache gives the same verdicts, asking Gitea once per user and repo within its time to live', async () => {
    const counted = gitea({ w: 'write', r: 'read' });
    let clock = 0;
    const cache = createPermissionCache({ gitea: counted, ttlMs: 1000, now: () => clock });
    expect([
      await cache.canWrite('o', 'r', 'w'),
      await cache.canWrite('o', 'r', 'W'),
      await cache.canWrite('o', 'r', 'r'),
      await cache.canWrite('o', 'r', 'ghost'),
    ]).toEqual([true, true, false, false]);
    expect(counted.asked).toEqual(['w', 'r', 'ghost']);
    clock = 1001;
    expect(await cache.canWrite('o', 'r', 'w')).toBe(true);
    expect(counted.asked).toEqual(['w', 'r', 'ghost', 'w']);
  });
});
