// Phases for the chaos runs (DAMASCUS_PHASES_MODULE): every phase passes after a random delay in
// [CHAOS_DELAY_MIN_MS, CHAOS_DELAY_MAX_MS], and appends "start|end <item> <phase> <pid> <ms> <leaseToken>" to
// CHAOS_TRACE, so the invariant check can tie each recorded verdict to the claim (lease) that ran it.
import { appendFileSync } from 'node:fs';

const min = Number(process.env.CHAOS_DELAY_MIN_MS ?? 100);
const max = Number(process.env.CHAOS_DELAY_MAX_MS ?? 500);
const trace = process.env.CHAOS_TRACE;

function make(phase) {
  return {
    async run(item, ctx) {
      const line = (kind) => trace && appendFileSync(trace, `${kind} ${item.id} ${phase} ${process.pid} ${Date.now()} ${item.leaseToken}\n`);
      line('start');
      await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, min + Math.random() * (max - min));
        ctx.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            reject(ctx.signal.reason);
          },
          { once: true },
        );
      });
      line('end');
      return { verdict: 'pass', reason: `chaos ${phase} pass` };
    },
  };
}

export const phases = { spec: make('spec'), build: make('build'), review: make('review') };
