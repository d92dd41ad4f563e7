/**
 * deploy/provision.sh against a real Gitea (its binary, its app.ini and its HTTP API), run twice with a
 * fresh bot. Not part of `npm test`: `npm run test:live` with these set (DAMASCUS_LIVE_GITEA_RUN_AS when the
 * tests run as root, since Gitea refuses to):
 *   DAMASCUS_LIVE_GITEA_BIN, DAMASCUS_LIVE_GITEA_CONFIG, DAMASCUS_LIVE_GITEA_RUN_AS, DAMASCUS_LIVE_GITEA_URL
 * The bot user is deleted afterwards. No token or secret is ever printed, also not by a failing assertion
 * (they are compared as booleans).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';

const BIN = process.env.DAMASCUS_LIVE_GITEA_BIN ?? '';
const CONFIG = process.env.DAMASCUS_LIVE_GITEA_CONFIG ?? '';
const RUN_AS = process.env.DAMASCUS_LIVE_GITEA_RUN_AS ?? '';
const URL_ = (process.env.DAMASCUS_LIVE_GITEA_URL ?? '').replace(/\/+$/, '');
const enabled = BIN !== '' && CONFIG !== '' && URL_ !== '';

const SCOPES = ['write:repository', 'write:issue', 'read:user', 'write:user'];
const FILES = [
  'callback-secret',
  'dashboard-token',
  'gitea-token',
  'gitea-token.user',
  'postgres-password',
  'redis-password',
  'runner-registration-token',
  'webhook-secret',
];

/** The gitea CLI, as RUN_AS when that is another user than ours. */
function gitea(args: string[]) {
  const argv = [BIN, '--config', CONFIG, ...args];
  const cmd = RUN_AS !== '' && RUN_AS !== userInfo().username ? ['runuser', '-u', RUN_AS, '--', ...argv] : argv;
  return spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: '/' });
}

/** A scope list with what each write scope implies (Gitea normalises write:user,read:user to write:user). */
function implied(scopes: string[]): string[] {
  const all = new Set(scopes);
  for (const sc of scopes) if (sc.startsWith('write:')) all.add(`read:${sc.slice('write:'.length)}`);
  return [...all].sort();
}

const live = enabled ? describe : describe.skip;
if (!enabled) {
  // The one line that says why.
  console.log('provision.live: skipped (set DAMASCUS_LIVE_GITEA_BIN, DAMASCUS_LIVE_GITEA_CONFIG and DAMASCUS_LIVE_GITEA_URL to run it against a real Gitea)');
}

live('deploy/provision.sh against a real Gitea', () => {
  const bot = `damascus-live-${randomBytes(4).toString('hex')}`;
  let root: string;
  let dir: string;
  const runs: { status: number | null; output: string }[] = [];
  let first: Record<string, string> = {};
  let firstMtimes: number[] = [];

  function provision() {
    const r = spawnSync('sh', ['deploy/provision.sh'], {
      encoding: 'utf8',
      env: {
        ...process.env,
        GITEA_BIN: BIN,
        GITEA_CONFIG: CONFIG,
        GITEA_RUN_AS: RUN_AS,
        PROVISION_DIR: dir,
        // the files go to the Gitea user, as they go to the Damascus image's user in compose
        PROVISION_OWNER: RUN_AS,
        DAMASCUS_BOT_USER: bot,
      },
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }
  const read = () =>
    Object.fromEntries(
      readdirSync(dir)
        .sort()
        .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
    );

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'damascus-provision-live-'));
    dir = join(root, 'provision');
    runs.push(provision());
    if (runs[0]!.status === 0) {
      first = read();
      firstMtimes = Object.keys(first).map((f) => statSync(join(dir, f)).mtimeMs);
    }
    runs.push(provision());
  });

  afterAll(() => {
    const del = gitea(['admin', 'user', 'delete', '--username', bot]);
    if (del.status !== 0) console.log(`provision.live: could not delete the bot user ${bot}: ${del.stderr.trim()}`);
    rmSync(root, { recursive: true, force: true });
  });

  test('both runs succeed, and neither prints a token or a secret', () => {
    expect(runs.map((r) => r.status)).toEqual([0, 0]);
    expect(runs[0]!.output).toContain(`created the bot user ${bot}`);
    const values = Object.entries(first)
      .filter(([f]) => f !== 'gitea-token.user')
      .map(([, v]) => v.trim());
    expect(values).toHaveLength(FILES.length - 1);
    for (const r of runs) for (const v of values) expect(r.output.includes(v)).toBe(false);
  });

  test('the files are there, one line each, mode 0600 in a 0700 directory, owned by the Gitea user', () => {
    expect(Object.keys(first)).toEqual(FILES);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const uid = RUN_AS === '' ? process.getuid!() : Number(spawnSync('id', ['-u', RUN_AS], { encoding: 'utf8' }).stdout.trim());
    for (const f of FILES) {
      const st = statSync(join(dir, f));
      expect([f, st.mode & 0o777, st.uid]).toEqual([f, 0o600, uid]);
      expect([f, /^[^\n]+\n$/.test(first[f]!)]).toEqual([f, true]);
    }
    expect(first['gitea-token.user']).toBe(`${bot}\n`);
    const hex64 = (v: string) => /^[0-9a-f]{64}\n$/.test(v);
    expect([hex64(first['webhook-secret']!), hex64(first['callback-secret']!)]).toEqual([true, true]);
    expect(first['webhook-secret'] === first['callback-secret']).toBe(false);
  });

  test('the second run changes nothing', () => {
    const second = read();
    expect(Object.keys(second)).toEqual(FILES);
    for (const f of FILES) expect([f, second[f] === first[f]]).toEqual([f, true]);
    expect(Object.keys(second).map((f) => statSync(join(dir, f)).mtimeMs)).toEqual(firstMtimes);
    expect(runs[1]!.output).toContain(`the bot user ${bot} exists`);
    expect(runs[1]!.output).toContain('kept gitea-token');
    expect(runs[1]!.output).toContain('kept runner-registration-token');
  });

  test("the token is the bot's, and the bot is not a site administrator", async () => {
    const res = await fetch(`${URL_}/api/v1/user`, { headers: { Authorization: `token ${first['gitea-token']!.trim()}` } });
    expect(res.status).toBe(200);
    const me = (await res.json()) as { login: string; is_admin: boolean };
    expect({ login: me.login, is_admin: me.is_admin }).toEqual({ login: bot, is_admin: false });
  });

  test('the token has exactly the scopes asked for', async () => {
    // Creating an organisation needs write:organization, which the token lacks: Gitea says which scopes it has.
    // The body is empty, so even a token with that scope could not create anything.
    const res = await fetch(`${URL_}/api/v1/orgs`, {
      method: 'POST',
      headers: { Authorization: `token ${first['gitea-token']!.trim()}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    const body = (await res.json()) as { message?: string };
    expect(res.status).toBe(403);
    const m = /token does not have at least one of required scope\(s\), required=\[write:organization\], token scope=([a-z:,-]+)/.exec(body.message ?? '');
    expect(m).not.toBeNull();
    expect(implied(m![1]!.split(','))).toEqual(implied(SCOPES));
  });

  test('the runner registration token is 40 characters, letters and digits', () => {
    const t = first['runner-registration-token']!.replace(/\n$/, '');
    expect(t.length).toBe(40);
    expect(/^[A-Za-z0-9]+$/.test(t)).toBe(true);
  });
});
