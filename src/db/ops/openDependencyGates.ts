import type { TxSql } from '../connection.js';
import type { IssueKey } from '../../domain/gates.js';

/**
 * Hold a new item until the issues it depends on are done: one `depends_on` gate per dependency that
 * is not done yet (linked to its item when Damascus tracks it, else by "owner/repo#n", resolved when
 * such an item is done later), counted in work_items.gate_count so the claim skips the item.
 */
export async function openDependencyGates(tx: TxSql, itemId: number, deps: IssueKey[]): Promise<number> {
  if (deps.length === 0) return 0;
  const targets = deps.map((d) => ({ target: `${d.owner}/${d.name}#${d.number}`.toLowerCase(), owner: d.owner, name: d.name, number: d.number }));
  const [row] = await tx<{ opened: number }[]>`
    WITH wanted AS (
      SELECT t.target, w.id AS dep_id, w.state AS dep_state
      FROM jsonb_to_recordset(${tx.json(targets as never)}::jsonb) AS t(target text, owner text, name text, number int)
      LEFT JOIN projects p ON lower(p.owner) = lower(t.owner) AND lower(p.name) = lower(t.name)
      LEFT JOIN work_items w ON w.project_id = p.id AND w.issue_number = t.number
    ), ins AS (
      INSERT INTO coordination_gates (item_id, kind, depends_on_item_id, target)
      SELECT ${itemId}, 'depends_on', dep_id, target FROM wanted WHERE dep_state IS DISTINCT FROM 'done'
      RETURNING id
    ), upd AS (
      UPDATE work_items SET gate_count = gate_count + (SELECT count(*) FROM ins)::int
      WHERE id = ${itemId} AND EXISTS (SELECT 1 FROM ins)
    )
    SELECT (SELECT count(*) FROM ins)::int AS opened`;
  return row!.opened;
}
