import type postgres from 'postgres';
import type { Queryable } from '../connection.js';

export interface ProjectInput {
  owner: string;
  name: string;
  giteaRepoId?: number | null;
  defaultBranch?: string;
  htmlUrl?: string | null;
  cloneUrl?: string | null;
}

export interface Project {
  id: number;
  owner: string;
  name: string;
  giteaRepoId: number | null;
  defaultBranch: string;
  htmlUrl: string | null;
  cloneUrl: string | null;
  config: Record<string, unknown>;
}

type Fragment = postgres.PendingQuery<postgres.Row[]>;

/**
 * SQL condition: the projects row `row` already says what these values say about the repository
 * (a value that is NULL, unknown to the sender, matches anything). Shared by every intake path, so
 * they agree on when a project needs refreshing.
 */
export function projectIsCurrent(
  sql: Queryable,
  row: string,
  v: { repoId: Fragment; defaultBranch: Fragment; htmlUrl: Fragment; cloneUrl: Fragment },
): Fragment {
  const r = sql(row);
  return sql`${r}.gitea_repo_id IS NOT DISTINCT FROM COALESCE(${v.repoId}, ${r}.gitea_repo_id)
    AND ${r}.default_branch = ${v.defaultBranch}
    AND ${r}.html_url IS NOT DISTINCT FROM COALESCE(${v.htmlUrl}, ${r}.html_url)
    AND ${r}.clone_url IS NOT DISTINCT FROM COALESCE(${v.cloneUrl}, ${r}.clone_url)`;
}

/**
 * Insert the repository as a project, or refresh what Gitea says about it. Keyed by owner/name.
 * An unchanged project is only read: an upsert would rewrite (and lock) the row for every webhook.
 */
export async function upsertProject(sql: Queryable, p: ProjectInput): Promise<Project> {
  const [current] = await sql<Project[]>`
    SELECT id, owner, name, gitea_repo_id, default_branch, html_url, clone_url, config FROM projects
    WHERE owner = ${p.owner} AND name = ${p.name} AND ${projectIsCurrent(sql, 'projects', {
      repoId: sql`${p.giteaRepoId ?? null}::bigint`,
      defaultBranch: sql`${p.defaultBranch ?? 'main'}::text`,
      htmlUrl: sql`${p.htmlUrl ?? null}::text`,
      cloneUrl: sql`${p.cloneUrl ?? null}::text`,
    })}`;
  if (current) return current;
  const [row] = await sql<Project[]>`
    INSERT INTO projects (owner, name, gitea_repo_id, default_branch, html_url, clone_url)
    VALUES (${p.owner}, ${p.name}, ${p.giteaRepoId ?? null}, ${p.defaultBranch ?? 'main'}, ${p.htmlUrl ?? null}, ${p.cloneUrl ?? null})
    ON CONFLICT (owner, name) DO UPDATE SET
      gitea_repo_id = COALESCE(EXCLUDED.gitea_repo_id, projects.gitea_repo_id),
      default_branch = EXCLUDED.default_branch,
      html_url = COALESCE(EXCLUDED.html_url, projects.html_url),
      clone_url = COALESCE(EXCLUDED.clone_url, projects.clone_url)
    RETURNING id, owner, name, gitea_repo_id, default_branch, html_url, clone_url, config`;
  return row!;
}
