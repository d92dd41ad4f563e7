/**
 * `npm run demo`: the whole Damascus loop on this machine, with readable progress, for a newcomer who has
 * no Gitea. It needs only PostgreSQL (DATABASE server: $DEMO_DATABASE_SERVER, default
 * postgres://postgres@127.0.0.1:5432/postgres; it creates and drops its own database) and Redis
 * ($REDIS_URL, default redis://127.0.0.1:6379; its keys live under a unique prefix and are removed at the end).
 *
 * It is the world of the end-to-end test (tests/e2e/world.ts): `damascus serve`, `damascus worker` and
 * `damascus scheduler` as three processes, a simulated Gitea with a real bare git repo prepared by
 * `damascus setup`, a scripted LLM, the real Claude Code CLI against a scripted Anthropic API, and the real review Action run on every
 * workflow dispatch. Two stories: one goes straight through; the other asks a question (the demo answers
 * as "alice") and fails its first review before it merges. Exit 0 when both pull requests were merged.
 */
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

interface ItemRow {
  id: number;
  state: string;
  issueNumber: number;
  prNumber: number | null;
  specVersion: number;
}
interface Story {
  title: string;
  body: string;
  file: string;
  content: string;
  testCommand: string;
}
interface WorldLike {
  db: { url: string; sql: (strings: TemplateStringsArray, ...values: unknown[]) => Promise<Record<string, unknown>[]> };
  sim: { url: string; botLogin: string; issueLabels(owner: string, name: string, n: number): string[] };
  start(): Promise<void>;
  setup(): Promise<string>;
  startProcesses(): Promise<void>;
  scriptAgent(issue: number, first: { writes: Record<string, string> }, retry?: { writes: Record<string, string> }): Promise<void>;
  openIssue(title: string, body: string): number;
  label(issue: number): void;
  waitForQuestion(issue: number, timeoutMs?: number): Promise<{ id: number; tag: string; question: string }>;
  waitForAnswered(humanIssueId: number, timeoutMs?: number): Promise<void>;
  answer(issue: number, question: string, answer: string): void;
  waitForApprovalRequest(issue: number, timeoutMs?: number): Promise<string>;
  approve(issue: number): void;
  waitForState(issue: number, states: string[], o?: { timeoutMs?: number; unexpected?: string[] }): Promise<ItemRow>;
  waitForRelay(timeoutMs?: number): Promise<void>;
  fileOnMain(path: string): string | null;
  stop(): Promise<void>;
}
interface WorldModule {
  World: new (o: { redisUrl?: string; say?: (line: string) => void }) => WorldLike;
  HELLO: Story;
  LANG: Story & { wrongContent: string; answer: string };
  OWNER: string;
  REPO: string;
}

const started = Date.now();
let interrupted = false;
const tty = process.stdout.isTTY;
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
function say(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`${dim(`[${t}s]`)} ${line}\n`);
}

/** Poll the database and the simulated Gitea; print each new verdict and each label change once. */
function watchProgress(world: WorldLike, m: WorldModule, issues: number[]): () => Promise<void> {
  let lastVerdict = 0;
  const labels = new Map<number, string>();
  const prs = new Map<number, number>();
  let running = true;
  const tick = async () => {
    const rows = await world.db.sql`
      SELECT v.id, v.phase, v.verdict, v.to_state, v.reason, w.issue_number, w.pr_number, w.spec_version, w.branch
      FROM verdicts v JOIN work_items w ON w.id = v.item_id WHERE v.id > ${lastVerdict} ORDER BY v.id`;
    for (const v of rows) {
      lastVerdict = Number(v.id);
      const n = `#${String(v.issueNumber)}`;
      const key = `${String(v.phase)}:${String(v.verdict)}`;
      if (key === 'spec:pass') say(`${n} spec written (v${String(v.specVersion)})`);
      else if (key === 'spec:needs_human') say(`${n} the spec has an open question: the bot asks it on the issue`);
      else if (key === 'build:pass') {
        const pr = Number(v.prNumber);
        say(prs.has(Number(v.issueNumber)) ? `${n} build pushed a new commit to PR #${pr}` : `${n} build pushed ${String(v.branch)}; PR #${pr} opened`);
        prs.set(Number(v.issueNumber), pr);
      } else if (key === 'review:fail') say(`${n} review failed: back to build with the test output as feedback`);
      else if (key === 'review:pass') say(bold(`${n} PR #${String(v.prNumber)} merged; issue closed`));
      else say(`${n} ${String(v.phase)} said ${String(v.verdict)} → ${String(v.toState)}${v.reason ? ` (${String(v.reason)})` : ''}`);
    }
    for (const issue of issues) {
      // (while the relay swaps labels an issue may carry two for a moment: wait until it is one)
      const current = world.sim.issueLabels(m.OWNER, m.REPO, issue).filter((l) => l.startsWith('damascus/'));
      const label = current.length === 1 ? current[0]! : null;
      if (label && labels.get(issue) !== label) {
        labels.set(issue, label);
        say(dim(`#${issue} on Gitea: status comment updated, label ${label}`));
      }
    }
  };
  const loop = (async () => {
    while (running) {
      await tick().catch(() => {});
      await new Promise((r) => setTimeout(r, 250));
    }
    await tick().catch(() => {});
  })();
  return async () => {
    running = false;
    await loop;
  };
}

async function main(): Promise<number> {
  register(pathToFileURL(join(HERE, 'demoLoader.js')).href, pathToFileURL(`${HERE}/`));
  // tests/support/db.ts reads the server URL when it loads
  process.env.TEST_DATABASE_SERVER = process.env.DEMO_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const worldPath = pathToFileURL(join(ROOT, 'tests', 'e2e', 'world.ts')).href;
  const m = (await import(worldPath)) as WorldModule;

  say(bold('Damascus demo: a labelled issue goes spec → build → review → merge, with no real Gitea'));
  const world = new m.World({ redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', say });
  let stopWatching: (() => Promise<void>) | null = null;
  // Ctrl-C: stop the processes and drop the database before leaving
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      process.stderr.write(`\n${sig}: cleaning up…\n`);
      void world.stop().finally(() => process.exit(130));
    });
  }
  try {
    await world.start();
    await world.setup();
    await world.startProcesses();
    const hello = world.openIssue(m.HELLO.title, m.HELLO.body);
    const lang = world.openIssue(m.LANG.title, m.LANG.body);
    say(`alice opened #${hello} "${m.HELLO.title}" and #${lang} "${m.LANG.title}"`);
    await world.scriptAgent(hello, { writes: { [m.HELLO.file]: m.HELLO.content } });
    await world.scriptAgent(lang, { writes: { [m.LANG.file]: m.LANG.wrongContent } }, { writes: { [m.LANG.file]: m.LANG.content } });
    stopWatching = watchProgress(world, m, [hello, lang]);
    world.label(hello);
    world.label(lang);

    // No test_command in the repo: each spec's test command waits for a writer's `/damascus approve`.
    await world.waitForApprovalRequest(hello);
    world.approve(hello);
    const q = await world.waitForQuestion(lang);
    say(`#${lang} the bot asked ${q.tag}: "${q.question}"`);
    world.answer(lang, q.question, m.LANG.answer);
    await world.waitForAnswered(q.id);
    await world.waitForApprovalRequest(lang);
    world.approve(lang);

    const settled = ['blocked', 'cancelled', 'awaiting_human'];
    const done = [await world.waitForState(hello, ['done'], { unexpected: settled }), await world.waitForState(lang, ['done'], { unexpected: settled })];
    await world.waitForRelay();
    await stopWatching();
    stopWatching = null;

    say(
      `main now holds ${m.HELLO.file} = ${JSON.stringify(world.fileOnMain(m.HELLO.file))} and ${m.LANG.file} = ${JSON.stringify(world.fileOnMain(m.LANG.file))}`,
    );
    const [costs] = await world.db.sql`SELECT count(*)::int AS verdicts, (SELECT sum(usd)::float8 FROM cost_ledger) AS usd FROM verdicts`;
    say(
      `${String(costs!.verdicts)} verdicts recorded; $${Number(costs!.usd).toFixed(4)} spent (scripted LLM; the real Claude Code priced its scripted model's tokens)`,
    );
    for (const it of done) process.stdout.write(`${bold(`PR #${it.prNumber} was merged.`)}\n`);
    return 0;
  } catch (err) {
    if (interrupted) return 130;
    process.stderr.write(`\nThe demo failed: ${(err as Error).message}\n`);
    if (/ECONNREFUSED|connect/i.test((err as Error).message)) {
      process.stderr.write('Is PostgreSQL listening on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379 (or REDIS_URL)?\n');
    }
    return 1;
  } finally {
    if (stopWatching) await stopWatching().catch(() => {});
    await world.stop().catch((err: Error) => process.stderr.write(`cleanup: ${err.message}\n`));
  }
}

// The simulator's validator thread is unref'd: hold the event loop open until main() settles.
const keepAlive = setInterval(() => {}, 60_000);
main()
  .finally(() => clearInterval(keepAlive))
  .then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
