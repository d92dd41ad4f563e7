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

/** Insert the repository as a project, or refresh what Gitea says about it. Keyed by owner/name. */
export async function upsertProject(sql: Queryable, p: ProjectInput): Promise<Project> {
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
