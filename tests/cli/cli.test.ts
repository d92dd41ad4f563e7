import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDb, withDatabase } from '../../src/db/connection.js';
import { SERVER_URL, createTestDb, seedItems, type TestDb } from '../support/db.js';
import { ROOT, SCRIPTED_PHASES, damascus } from '../support/cli.js';
import { Command } from 'commander';
import { registerCycle } from '../../src/cli/cycle.js';
import { registerDoctor } from '../../src/cli/doctor.js';
import { registerEnqueue } from '../../src/cli/enqueue.js';
import { registerInit } from '../../src/cli/init.js';
import { registerItemCommands } from '../../src/cli/itemCommands.js';
import { registerProcessCommands } from '../../src/cli/processes.js';
import { registerSetup } from '../../src/cli/setup.js';
import { registerStatus } from '../../src/cli/status.js';

/** Every command src/cli/*.ts declares with `.command('name')`. */
function commandsInSources(): string[] {
  const dir = join(ROOT, 'src', 'cli');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/\.command\('([^' ]+)/g)].map((m) => m[1]!))
    .sort();
}

/** The commands as src/cli/index.ts registers them, to read what each one's help must say. */
function declaredProgram(): Command {
  const program = new Command('damascus');
  for (const register of [
    registerInit,
    registerCycle,
    registerStatus,
    registerItemCommands,
    registerProcessCommands,
    registerEnqueue,
    registerSetup,
    registerDoctor,
  ])
    register(program);
  return program;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('damascus CLI (real processes)', () => {
  let db: TestDb;
  let dataDir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await createTestDb();
    dataDir = await mkdtemp(join(tmpdir(), 'damascus-cli-'));
    env = { DATABASE_URL: db.url, DAMASCUS_DATA_DIR: dataDir, DAMASCUS_PHASES_MODULE: SCRIPTED_PHASES };
  });
  afterAll(async () => {
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('init creates the database, applies the schema, and a second run says nothing changed', async () => {
    const name = `dmtest_${randomBytes(5).toString('hex')}`;
    const url = withDatabase(SERVER_URL, name);
    try {
      const first = await damascus(['init'], { DATABASE_URL: url });
      expect(first.code).toBe(0);
      expect(first.stdout).toContain(`created database ${name}`);
      expect(first.stdout).toContain('applied 001_core, 002_intake, 003_gates');
      const second = await damascus(['init'], { DATABASE_URL: url });
      expect(second.code).toBe(0);
      expect(second.stdout).toMatch(/up to date .*nothing changed/);
    } finally {
      const admin = openDb(SERVER_URL, { max: 1 });
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });

  test.each([
    ['not-a-url', /DATABASE_URL is not a valid URL/],
    ['mysql://root@127.0.0.1/x', /must start with postgres:\/\//],
    ['postgres://postgres@127.0.0.1:1/damascus', /cannot connect to PostgreSQL at 127\.0\.0\.1:1: connection refused/],
    ['postgres://no_such_role@127.0.0.1:5432/damascus', /refused the login/],
  ])('init with DATABASE_URL=%s fails in one line, without a stack', async (url, message) => {
    const r = await damascus(['init'], { DATABASE_URL: url });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('loop-breaker end to end through `damascus cycle`: a spec that keeps failing gets blocked', async () => {
    const [item] = await seedItems(db.sql, 1, { budgetCycles: 3 });
    const scripted = { ...env, SCRIPTED_PHASES: JSON.stringify({ spec: 'spec_wrong' }) };
    const lines: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await damascus(['cycle'], scripted);
      expect(r.code).toBe(0);
      lines.push(r.stdout.trim());
    }
    expect(lines[0]).toMatch(new RegExp(`item ${item!.id} .*spec → spec_wrong → spec`));
    expect(lines[2]).toMatch(new RegExp(`item ${item!.id} .*spec → spec_wrong → blocked`));
    const idle = await damascus(['cycle'], scripted);
    expect(idle.code).toBe(0);
    expect(idle.stdout).toMatch(/nothing to do/);

    const [row] = await db.sql`SELECT state, attempts, resume_phase FROM work_items WHERE id = ${item!.id}`;
    expect(row).toEqual({ state: 'blocked', attempts: 3, resumePhase: 'spec' });
    expect(await db.sql`SELECT kind, status FROM human_issues WHERE item_id = ${item!.id}`).toEqual([{ kind: 'blocked', status: 'open' }]);
    const evs = await db.sql`SELECT type FROM events_outbox WHERE item_id = ${item!.id} AND type = 'work.blocked'`;
    expect(evs).toHaveLength(1);

    // status shows it, as text and JSON, and writes status.json
    const text = await damascus(['status'], env);
    expect(text.stdout).toMatch(/blocked: 1/);
    expect(text.stdout).toMatch(/Q-\d+ item \d+ acme\/widgets#\d+ \(blocked/);
    const json = await damascus(['status', '--json'], env);
    const report = JSON.parse(json.stdout);
    expect(report.items.blocked).toBe(1);
    expect(report.blocked[0].itemId).toBe(item!.id);
    expect(report.blocked[0].reason).toMatch(/budget_cycles/);
    expect(report.recentVerdicts).toHaveLength(3);
    const file = JSON.parse(await readFile(join(dataDir, 'status.json'), 'utf8'));
    expect(file.items).toEqual(report.items);

    // retry through the CLI, then the item runs again
    const retried = await damascus(['retry', String(item!.id)], env);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toContain(`item ${item!.id}: blocked → spec`);
    const again = await damascus(['cycle'], { ...env, SCRIPTED_PHASES: JSON.stringify({ spec: 'pass' }) });
    expect(again.stdout).toMatch(/spec → pass → build/);
  });

  test('status shows the growing tables (rows, bytes) and the retention setting, as text and JSON', async () => {
    await seedItems(db.sql, 1);
    await db.sql`INSERT INTO webhook_deliveries (delivery_id, event, result, processed_at) VALUES (${randomBytes(8).toString('hex')}, 'issues', 'test', now())`;
    const truth = await db.sql<{ name: string; rows: number; bytes: number }[]>`
      SELECT t.name, (SELECT count(*)::int FROM events_outbox) AS rows, pg_total_relation_size(t.name::regclass) AS bytes FROM (VALUES ('events_outbox')) t(name)
      UNION ALL SELECT 'webhook_deliveries', (SELECT count(*)::int FROM webhook_deliveries), pg_total_relation_size('webhook_deliveries')
      UNION ALL SELECT 'work_items', (SELECT count(*)::int FROM work_items), pg_total_relation_size('work_items')`;
    const withRetention = (days: string) => ({ ...env, DAMASCUS_RETENTION_DAYS: days });

    const report = JSON.parse((await damascus(['status', '--json'], withRetention('14'))).stdout);
    expect(report.retentionDays).toBe(14);
    expect(report.tables.map((t: { name: string }) => t.name)).toEqual([
      'work_items',
      'verdicts',
      'human_issues',
      'cost_ledger',
      'ci_results',
      'events_outbox',
      'webhook_deliveries',
    ]);
    for (const t of truth) expect(report.tables).toContainEqual(t);
    for (const t of report.tables) expect(t.bytes).toBeGreaterThanOrEqual(8192); // at least the primary key's first page

    const text = (await damascus(['status'], withRetention('14'))).stdout;
    const deliveries = truth.find((t) => t.name === 'webhook_deliveries')!;
    expect(text).toContain(`  webhook_deliveries: ${deliveries.rows} row${deliveries.rows === 1 ? '' : 's'}, ${(deliveries.bytes / 1024).toFixed(1)} KiB`);
    expect(text).toContain('retention: processed webhook deliveries and delivered outbox events go after 14 days');
    expect((await damascus(['status'], withRetention('0'))).stdout).toContain('retention: everything is kept (DAMASCUS_RETENTION_DAYS=0)');
    const bad = await damascus(['status'], withRetention('-3'));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('DAMASCUS_RETENTION_DAYS must be a whole number of days, 0 to keep everything (got "-3")');
  });

  test('a phase that throws is recorded as an error with backoff, not a crash', async () => {
    await db.sql`UPDATE work_items SET state = 'done' WHERE state IN ('spec', 'build', 'review')`;
    const [item] = await seedItems(db.sql, 1);
    const r = await damascus(['cycle'], { ...env, SCRIPTED_PHASES: JSON.stringify({ spec: 'throw' }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/spec → error → spec/);
    const [row] = await db.sql`SELECT state, error_count, attempts, run_after > now() AS waiting FROM work_items WHERE id = ${item!.id}`;
    expect(row).toEqual({ state: 'spec', errorCount: 1, attempts: 0, waiting: true });
  });

  test('`damascus cycle` runs the built-in phases when Gitea is configured and no phases module is named', async () => {
    await db.sql`UPDATE work_items SET state = 'done' WHERE state IN ('spec', 'build', 'review')`;
    const [item] = await seedItems(db.sql, 1);
    // The built-in spec phase answers before it reads anything from Gitea: no LLM is configured.
    const builtin = {
      DATABASE_URL: db.url,
      DAMASCUS_DATA_DIR: dataDir,
      GITEA_URL: 'http://127.0.0.1:9',
      GITEA_TOKEN: 'not-used',
      LLM_BASE_URL: '',
      LLM_MODEL: '',
    };
    const r = await damascus(['cycle'], builtin);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^item ${item!.id} .*: spec → error → spec`, 'm'));
    const [verdict] = await db.sql`SELECT verdict, reason FROM verdicts WHERE item_id = ${item!.id}`;
    expect(verdict).toEqual({ verdict: 'error', reason: 'LLM_BASE_URL and LLM_MODEL are not set' });

    const none = await damascus(['cycle'], { DATABASE_URL: db.url, DAMASCUS_DATA_DIR: dataDir, GITEA_URL: '', GITEA_TOKEN: '' });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/no phases are configured: set GITEA_URL and GITEA_TOKEN/);
  });

  test('cancel and retry report bad ids and refusals clearly', async () => {
    const [item] = await seedItems(db.sql, 1);
    expect((await damascus(['cancel', String(item!.id)], env)).stdout).toContain('→ cancelled');
    const again = await damascus(['cancel', String(item!.id)], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already cancelled/);
    const bad = await damascus(['retry', 'abc'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/positive whole number/);
    const missing = await damascus(['retry', '987654'], env);
    expect(missing.stderr).toMatch(/no work item 987654/);
  });

  test('--help is there for every command: each prints its own usage, description, arguments and options, exit 0', async () => {
    const program = declaredProgram();
    const names = program.commands.map((c) => c.name());
    expect([...names].sort()).toEqual(commandsInSources());
    const top = await damascus(['--help'], env);
    expect(top.code).toBe(0);
    for (const name of names) expect(top.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    const runs = await Promise.all(program.commands.map((cmd) => damascus([cmd.name(), '--help'], env)));
    for (const [i, cmd] of program.commands.entries()) {
      const r = runs[i]!;
      expect({ command: cmd.name(), code: r.code, stderr: r.stderr }).toEqual({ command: cmd.name(), code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^Usage: damascus ${cmd.name()} ${escapeRegExp(cmd.usage())}$`, 'm'));
      // the whole help commander builds for this command (piped output: 80 columns), then any text it adds
      const help = cmd.configureHelp({ helpWidth: 80 }).helpInformation();
      expect(r.stdout.slice(0, help.length)).toBe(help);
      expect(r.stdout).toContain('\nOptions:\n');
      const options = r.stdout.slice(r.stdout.indexOf('\nOptions:\n'));
      for (const flags of [...cmd.options.map((o) => o.flags), '-h, --help']) expect(options).toContain(`  ${flags}`);
      for (const arg of cmd.registeredArguments) expect(r.stdout).toMatch(new RegExp(`^Arguments:\\n(  .*\\n)*  ${arg.name()} `, 'm'));
    }
  });
});
