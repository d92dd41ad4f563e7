import type { Sql } from '../connection.js';
import type { HumanAnswer } from '../../domain/answers.js';

export interface PhaseContextData {
  project: { id: number; owner: string; name: string; defaultBranch: string; cloneUrl: string | null; htmlUrl: string | null };
  /** Answered questions of this item, oldest first: the next spec/build sees them. */
  answers: HumanAnswer[];
  /** The item's verdicts, newest first (feedback, rejections, fingerprints of earlier attempts). */
  verdicts: { phase: string; verdict: string; reason: string | null; details: Record<string, unknown> }[];
}

/** What a phase reads from the store about its item, in one snapshot. */
export async function readPhaseContext(sql: Sql, itemId: number): Promise<PhaseContextData> {
  return sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    const [project] = await tx<PhaseContextData['project'][]>`
      SELECT p.id, p.owner, p.name, p.default_branch, p.clone_url, p.html_url
      FROM projects p JOIN work_items w ON w.project_id = p.id WHERE w.id = ${itemId}`;
    const answers = await tx<HumanAnswer[]>`
      SELECT question, answer, answered_by AS by FROM human_issues
      WHERE item_id = ${itemId} AND status = 'answered' AND answer IS NOT NULL ORDER BY answered_at, id`;
    const verdicts = await tx<PhaseContextData['verdicts']>`
      SELECT phase, verdict, reason, details FROM verdicts WHERE item_id = ${itemId} ORDER BY id DESC LIMIT 50`;
    return { project: project!, answers: [...answers], verdicts: [...verdicts] };
  }) as Promise<PhaseContextData>;
}
