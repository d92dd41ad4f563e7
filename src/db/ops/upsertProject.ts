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

/**
 * Insert the repository as a project, or refresh what Gitea says about it. Keyed by owner/name.
 * An unchanged project is only read: an upsert would rewrite (and lock) the row for every webhook.
 */
export async function upsertProject(sql: Queryable, p: ProjectInput): Promise<Project> {
  const [current] = await sql<Project[]>`
    SELECT id, owner, name, gitea_repo_id, default_branch, html_url, clone_url, config FROM projects
    WHERE owner = ${p.owner} AND name = ${p.name}
      AND gitea_repo_id IS NOT DISTINCT FROM COALESCE(${p.giteaRepoId ?? null}::bigint, gitea_repo_id)
      AND default_branch = ${p.defaultBranch ?? 'main'}
      AND html_url IS NOT DISTINCT FROM COALESCE(${p.htmlUrl ?? null}::text, html_url)
      AND clone_url IS NOT DISTINCT FROM COALESCE(${p.cloneUrl ?? null}::text, clone_url)`;
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
