import type { Sql, TxSql } from './connection.js';

interface Pending<T> {
  fn: (tx: TxSql) => Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

/**
 * Commit concurrent small writes together: while the transactions in flight commit, new jobs queue
 * up and go into the next ones, each inside its own savepoint (one job's error rolls back only that job).
 * Every job's promise resolves only after its transaction has committed, so a caller can answer
 * "stored" durably while paying one fsync per group instead of one per job.
 */
export function createGroupCommitter(sql: Sql, maxBatch = 64, parallel = 1) {
  let queue: Pending<unknown>[] = [];
  let running = 0;

  // Up to `parallel` transactions at once (one connection each): a batch's statements run one after
  // another, so a single committer would leave the server idle between round trips.
  async function flush(): Promise<void> {
    running++;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      const results: { ok: boolean; value: unknown }[] = [];
      try {
        await sql.begin(async (tx) => {
          for (const job of batch) {
            try {
              results.push({ ok: true, value: await tx.savepoint((sp) => job.fn(sp)) });
            } catch (err) {
              results.push({ ok: false, value: err });
            }
          }
        });
        batch.forEach((job, i) => (results[i]!.ok ? job.resolve(results[i]!.value) : job.reject(results[i]!.value)));
      } catch (err) {
        for (const job of batch) job.reject(err);
      }
    }
    running--;
  }

  return {
    run<T>(fn: (tx: TxSql) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve, reject } as Pending<unknown>);
        if (running < parallel) void flush();
      });
    },
  };
}
