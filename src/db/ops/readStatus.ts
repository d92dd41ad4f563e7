import type { Sql } from '../connection.js';
import { STATES, type State } from '../../domain/states.js';

export interface StatusReport {
  generatedAt: string;
  items: Record<State, number>;
  leases: { itemId: number; issue: string; state: State; holder: string; ageSeconds: number; expiresInSeconds: number }[];
  openHumanIssues: { id: number; tag: string; itemId: number; issue: string; kind: string; question: string; ageSeconds: number }[];
  blocked: { itemId: number; issue: string; reason: string | null; since: string }[];
  recentVerdicts: { id: number; itemId: number; issue: string; phase: State; verdict: string; toState: State; reason: string | null; at: string }[];
  outbox: { pending: number; parked: number; oldestPendingSeconds: number | null };
  /** The tables that grow with use: rows, and bytes on disk (with their indexes and TOAST). */
  tables: { name: string; rows: number; bytes: number }[];
}

/** The tables whose size `damascus status` shows; the last two are what the retention sweep keeps small. */
const GROWING_TABLES = ['work_items', 'verdicts', 'human_issues', 'cost_ledger', 'ci_results', 'events_outbox', 'webhook_deliveries'];

/** Everything `damascus status` shows, read in one repeatable-read snapshot. */
export async function readStatus(sql: Sql, recent = 20): Promise<StatusReport> {
  return sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    const counts = await tx<{ state: State; n: number }[]>`SELECT state, count(*)::int AS n FROM work_items GROUP BY state`;
    const items = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<State, number>;
    for (const c of counts) items[c.state] = c.n;
    const leases = await tx<StatusReport['leases']>`
      SELECT w.id AS item_id, p.owner || '/' || p.name || '#' || w.issue_number AS issue, w.state, w.lease_owner AS holder,
             floor(extract(epoch FROM now() - w.leased_at))::int AS age_seconds,
             ceil(extract(epoch FROM w.lease_until - now()))::int AS expires_in_seconds
      FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE w.lease_token IS NOT NULL AND w.lease_until > now()
      ORDER BY w.lease_until`;
    const openHumanIssues = await tx<StatusReport['openHumanIssues']>`
      SELECT h.id, h.tag, h.item_id, p.owner || '/' || p.name || '#' || w.issue_number AS issue, h.kind, h.question,
             floor(extract(epoch FROM now() - h.created_at))::int AS age_seconds
      FROM human_issues h JOIN work_items w ON w.id = h.item_id JOIN projects p ON p.id = w.project_id
      WHERE h.status = 'open' ORDER BY h.id`;
    const blocked = await tx<StatusReport['blocked']>`
      SELECT w.id AS item_id, p.owner || '/' || p.name || '#' || w.issue_number AS issue,
             w.details -> 'lastTransition' ->> 'explanation' AS reason, to_char(w.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since
      FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE w.state = 'blocked' ORDER BY w.updated_at`;
    const recentVerdicts = await tx<StatusReport['recentVerdicts']>`
      SELECT v.id, v.item_id, p.owner || '/' || p.name || '#' || w.issue_number AS issue, v.phase, v.verdict, v.to_state, v.reason,
             to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at
      FROM verdicts v JOIN work_items w ON w.id = v.item_id JOIN projects p ON p.id = w.project_id
      ORDER BY v.id DESC LIMIT ${recent}`;
    const [outbox] = await tx<StatusReport['outbox'][]>`
      SELECT count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL)::int AS pending,
             count(*) FILTER (WHERE parked_at IS NOT NULL AND delivered_at IS NULL)::int AS parked,
             floor(extract(epoch FROM now() - min(created_at) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL)))::int AS oldest_pending_seconds
      FROM events_outbox WHERE delivered_at IS NULL`;
    const tables: StatusReport['tables'] = [];
    for (const name of GROWING_TABLES) {
      const [size] = await tx<{ rows: number; bytes: number }[]>`SELECT count(*) AS rows, pg_total_relation_size(${name}::regclass) AS bytes FROM ${tx(name)}`;
      tables.push({ name, ...size! });
    }
    return { generatedAt: new Date().toISOString(), items, leases, openHumanIssues, blocked, recentVerdicts, outbox: outbox!, tables };
  }) as Promise<StatusReport>;
}
