import { readFile } from 'node:fs/promises';

export interface PhaseRun {
  item: number;
  phase: string;
  pid: number;
  start: number;
  end: number | null;
}

/** Read the scripted phases' trace file (tests/fixtures/phases/scripted.mjs, SCRIPTED_TRACE). */
export async function readTrace(path: string): Promise<PhaseRun[]> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const runs: PhaseRun[] = [];
  const open = new Map<string, PhaseRun>();
  for (const line of text.split('\n')) {
    const [kind, item, phase, pid, at] = line.split(' ');
    if (!kind || !item || !phase || !pid || !at) continue;
    const key = `${item}:${phase}:${pid}`;
    if (kind === 'start') {
      const run = { item: Number(item), phase, pid: Number(pid), start: Number(at), end: null };
      runs.push(run);
      open.set(key, run);
    } else if (kind === 'end') {
      const run = open.get(key);
      if (run) { run.end = Number(at); open.delete(key); }
    }
  }
  return runs;
}

/** Items that had two phase runs at the same time (intervals that overlap). */
export function overlappingRuns(runs: PhaseRun[]): PhaseRun[][] {
  const byItem = new Map<number, PhaseRun[]>();
  for (const r of runs) byItem.set(r.item, [...(byItem.get(r.item) ?? []), r]);
  const bad: PhaseRun[][] = [];
  for (const list of byItem.values()) {
    const sorted = [...list].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      // a run that never ended (killed) only counts as overlapping if it was still its pid's live run
      if (prev.end === null || sorted[i]!.start < prev.end) {
        if (prev.end !== null) bad.push([prev, sorted[i]!]);
      }
    }
  }
  return bad;
}
