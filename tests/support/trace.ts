import { readFile } from 'node:fs/promises';

export interface PhaseRun {
  item: number;
  phase: string;
  pid: number;
  start: number;
  end: number | null;
}

export interface TraceEvent {
  kind: 'start' | 'end';
  item: number;
  phase: string;
  pid: number;
  at: number;
}

/**
 * The scripted phases' trace (tests/fixtures/phases/scripted.mjs, SCRIPTED_TRACE), in file order.
 * Every process appends with O_APPEND, so the file's order is the order in which the lines were written.
 */
export async function readTraceEvents(path: string): Promise<TraceEvent[]> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const events: TraceEvent[] = [];
  for (const line of text.split('\n')) {
    const [kind, item, phase, pid, at] = line.split(' ');
    if ((kind !== 'start' && kind !== 'end') || !item || !phase || !pid || !at) continue;
    events.push({ kind, item: Number(item), phase, pid: Number(pid), at: Number(at) });
  }
  return events;
}

/** The phase runs of the trace, each with its end (null if it never ended). */
export async function readTrace(path: string): Promise<PhaseRun[]> {
  const runs: PhaseRun[] = [];
  const open = new Map<string, PhaseRun>();
  for (const e of await readTraceEvents(path)) {
    const key = `${e.item}:${e.phase}:${e.pid}`;
    if (e.kind === 'start') {
      const run = { item: e.item, phase: e.phase, pid: e.pid, start: e.at, end: null };
      runs.push(run);
      open.set(key, run);
    } else {
      const run = open.get(key);
      if (run) {
        run.end = e.at;
        open.delete(key);
      }
    }
  }
  return runs;
}

/**
 * The most runs that were live at once, over every line of the trace in file order. A run's start is
 * written after its lease is taken and its end before the lease is let go, so at each line the runs
 * started and not yet ended are at most the leases live then: this bounds the leases at every instant,
 * not only at the instants a sampler happened to look.
 */
export function peakLiveRuns(events: TraceEvent[]): number {
  const live = new Set<string>();
  let peak = 0;
  for (const e of events) {
    const key = `${e.item}:${e.phase}:${e.pid}`;
    if (e.kind === 'start') live.add(key);
    else live.delete(key);
    peak = Math.max(peak, live.size);
  }
  return peak;
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
