import postgres from 'postgres';
import type { Sql } from './connection.js';

interface Pending<I, O> {
  input: I;
  keys: readonly string[];
  resolve: (v: O) => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitOptions {
  /** Most jobs in one transaction. */
  maxBatch?: number;
  /** Transactions in flight at once (one connection each). */
  parallel?: number;
}

/**
 * Write a group of inputs atomically (one statement, or a transaction of its own); one output per
 * input, in order. A group that fails writes nothing.
 */
export type GroupWriter<I, O> = (sql: Sql, inputs: I[]) => Promise<O[]>;

/**
 * Thrown by a writer that committed part of its group before a later part failed: the committed
 * outputs by input index, and the failure. The committer settles those and retries the rest.
 */
export class PartialGroupWrite<O> extends Error {
  constructor(
    readonly done: ReadonlyMap<number, O>,
    readonly failure: unknown,
  ) {
    super(failure instanceof Error ? failure.message : String(failure));
  }
}

/**
 * Two jobs conflict when they touch the same subject: equal keys, or a whole-scope key ("acme/widgets")
 * and a key inside it ("acme/widgets#5"). Conflicting jobs never share a transaction, and run in order.
 */
export function keysConflict(a: readonly string[], b: readonly string[]): boolean {
  return a.some((x) => b.some((y) => x === y || y.startsWith(`${x}#`) || x.startsWith(`${y}#`)));
}

/**
 * Commit concurrent small writes together. While a group commits, new jobs queue up and go into the
 * next group, which `write` handles in one go (a few statements for the whole group, not a few per
 * job). Jobs with conflicting keys go into separate groups, in arrival order.
 *
 * If the group fails with a database error, each of its jobs is written again alone, so one job's
 * error fails only that job. Every job's promise settles only after its write has committed, so a
 * caller can answer "stored" durably while paying one fsync per group.
 */
export function createGroupCommitter<I, O>(sql: Sql, write: GroupWriter<I, O>, opts: GroupCommitOptions = {}) {
  type Job = Pending<I, O>;
  const maxBatch = opts.maxBatch ?? 64;
  const parallel = opts.parallel ?? 1;
  let queue: Job[] = [];
  /** Groups whose transactions are in flight (parallel > 1): a conflicting job waits for them. */
  const inFlight = new Set<Job[]>();

  /** The longest head of the queue whose jobs conflict neither with each other nor with a group in flight. */
  function takeGroup(): Job[] {
    const group: Job[] = [];
    const busy = [...inFlight].flat();
    for (const job of queue) {
      if (group.length >= maxBatch) break;
      const clashes = (other: Job) => keysConflict(other.keys, job.keys);
      if (group.some(clashes) || busy.some(clashes)) break;
      group.push(job);
    }
    queue = queue.slice(group.length);
    return group;
  }

  /** Write the group; a database error fails only the jobs it touched (they are written again alone). */
  async function runTogether(group: Job[]): Promise<void> {
    let outputs: O[];
    try {
      outputs = await write(
        sql,
        group.map((j) => j.input),
      );
    } catch (err) {
      const done = err instanceof PartialGroupWrite ? (err.done as ReadonlyMap<number, O>) : new Map<number, O>();
      const failure = err instanceof PartialGroupWrite ? err.failure : err;
      for (const [i, out] of done) group[i]!.resolve(out);
      const rest = group.filter((_, i) => !done.has(i));
      // the server refused a statement: one job's fault, so find it (a lone job's error is its own).
      // Anything else (the connection is gone) would fail the second try the same way.
      if (rest.length > 1 && failure instanceof postgres.PostgresError) return runAlone(rest);
      for (const job of rest) job.reject(failure);
      return;
    }
    for (const [i, job] of group.entries()) job.resolve(outputs[i]!);
  }

  async function runAlone(group: Job[]): Promise<void> {
    await Promise.all(
      group.map(async (job) => {
        try {
          const [out] = await write(sql, [job.input]);
          job.resolve(out!);
        } catch (err) {
          job.reject(err);
        }
      }),
    );
  }

  /** Commit groups until none can be taken; returns how many it committed. */
  async function flush(): Promise<number> {
    for (let done = 0; ; done++) {
      const group = takeGroup();
      if (group.length === 0) return done;
      inFlight.add(group);
      try {
        await runTogether(group);
      } finally {
        inFlight.delete(group);
      }
    }
  }

  /**
   * Start flushers up to `parallel`. A flusher that can take nothing (every queued job conflicts with
   * a group in flight) ends at once; the flusher of that group takes the job when its group is done.
   */
  function kick(): void {
    while (inFlight.size < parallel && queue.length > 0) {
      const before = queue.length;
      void flush().then((done) => done > 0 && kick());
      if (queue.length === before) return;
    }
  }

  return {
    /** Write `input` in the next group's transaction; resolves after that transaction commits. */
    run(input: I, keys: readonly string[] = []): Promise<O> {
      return new Promise<O>((resolve, reject) => {
        queue.push({ input, keys, resolve, reject });
        kick();
      });
    },
  };
}
