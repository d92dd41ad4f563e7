/**
 * The `_FILE` settings of loadSettings: a secret from the file a variable names (Docker secrets, or the
 * files deploy/provision.sh writes), the plain variable winning when it is set.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadSettings, loadSetupToken, type Settings } from '../../src/config/env.js';

const SECRETS = [
  ['GITEA_TOKEN', 'giteaToken'],
  ['DAMASCUS_WEBHOOK_SECRET', 'webhookSecret'],
  ['DAMASCUS_CALLBACK_SECRET', 'callbackSecret'],
  ['LLM_API_KEY', 'llmApiKey'],
  ['DAMASCUS_DASHBOARD_TOKEN', 'dashboardToken'],
] as const satisfies readonly (readonly [string, keyof Settings])[];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'damascus-env-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** The ConfigError loadSettings(env) throws (fails the test when it returns instead). */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadSettings(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadSettings did not throw');
}

describe.each(SECRETS)('%s_FILE', (name, key) => {
  test('the value comes from the file, its trailing newline dropped', () => {
    expect(loadSettings({ [`${name}_FILE`]: file(`${name}-lf`, 's3cret-lf\n') })[key]).toBe('s3cret-lf');
    expect(loadSettings({ [`${name}_FILE`]: file(`${name}-crlf`, 's3cret-crlf\r\n') })[key]).toBe('s3cret-crlf');
    expect(loadSettings({ [`${name}_FILE`]: file(`${name}-bare`, 's3cret-bare') })[key]).toBe('s3cret-bare');
  });

  test('the plain variable wins, and then the file is not even read', () => {
    expect(loadSettings({ [name]: 'from-env', [`${name}_FILE`]: file(`${name}-win`, 'from-file\n') })[key]).toBe('from-env');
    expect(loadSettings({ [name]: 'from-env', [`${name}_FILE`]: join(dir, 'no-such-file') })[key]).toBe('from-env');
  });

  test('an empty plain variable (what `${VAR:-}` gives in compose) does not hide the file', () => {
    expect(loadSettings({ [name]: '', [`${name}_FILE`]: file(`${name}-empty-var`, 'from-file\n') })[key]).toBe('from-file');
  });

  test('neither set: unset; an empty _FILE is unset too', () => {
    expect(loadSettings({})[key]).toBeUndefined();
    expect(loadSettings({ [`${name}_FILE`]: '' })[key]).toBeUndefined();
  });

  test('a file that cannot be read is a ConfigError naming the variable and the path', () => {
    const missing = join(dir, `${name}-missing`);
    const e1 = configError({ [`${name}_FILE`]: missing });
    expect(e1.message).toContain(`${name}_FILE`);
    expect(e1.message).toContain(missing);
    expect(e1.message).toContain('ENOENT');
    const aDirectory = join(dir, `${name}-dir`);
    mkdirSync(aDirectory, { recursive: true });
    const e2 = configError({ [`${name}_FILE`]: aDirectory });
    expect(e2.message).toContain(`${name}_FILE`);
    expect(e2.message).toContain(aDirectory);
  });

  test('an empty file, or one of several lines, is a ConfigError naming the variable and the path, never the value', () => {
    for (const [label, content] of [
      ['empty', ''],
      ['newline-only', '\n'],
    ] as const) {
      const path = file(`${name}-${label}`, content);
      const e = configError({ [`${name}_FILE`]: path });
      expect([label, e.message.includes(`${name}_FILE`), e.message.includes(path)]).toEqual([label, true, true]);
    }
    const path = file(`${name}-two-lines`, 'first-half-of-the-secret\nsecond-half-of-the-secret\n');
    const e = configError({ [`${name}_FILE`]: path });
    expect(e.message).toContain(`${name}_FILE`);
    expect(e.message).toContain(path);
    expect(e.message).not.toContain('first-half');
    expect(e.message).not.toContain('second-half');
  });
});

describe('DAMASCUS_RUNS_ON', () => {
  test("the review workflow's runs-on label: ubuntu-latest unless set", () => {
    expect(loadSettings({}).runsOn).toBe('ubuntu-latest');
    expect(loadSettings({ DAMASCUS_RUNS_ON: '' }).runsOn).toBe('ubuntu-latest');
    expect(loadSettings({ DAMASCUS_RUNS_ON: 'damascus' }).runsOn).toBe('damascus');
  });
});

describe('DAMASCUS_RETENTION_DAYS', () => {
  test('30 days unless set; 0 keeps everything; anything but a whole number of days is a ConfigError that names it', () => {
    expect(loadSettings({}).retentionDays).toBe(30);
    expect(loadSettings({ DAMASCUS_RETENTION_DAYS: ' ' }).retentionDays).toBe(30);
    expect(loadSettings({ DAMASCUS_RETENTION_DAYS: '0' }).retentionDays).toBe(0);
    expect(loadSettings({ DAMASCUS_RETENTION_DAYS: '1' }).retentionDays).toBe(1);
    expect(loadSettings({ DAMASCUS_RETENTION_DAYS: '365' }).retentionDays).toBe(365);
    for (const bad of ['-1', '7.5', 'thirty', '30d']) {
      expect(configError({ DAMASCUS_RETENTION_DAYS: bad }).message).toBe(
        `DAMASCUS_RETENTION_DAYS must be a whole number of days, 0 to keep everything (got ${JSON.stringify(bad)})`,
      );
    }
  });
});

describe('DATABASE_PASSWORD and REDIS_PASSWORD (or _FILE): put into the URLs, so the URLs need not hold them', () => {
  test('the password from the file goes into the URL (encoded), replacing one already there; unset, the URL is as given', () => {
    const password = 'p@ss:w/rd?#%';
    const env = {
      DATABASE_URL: 'postgres://damascus:old@postgres:5432/damascus',
      DATABASE_PASSWORD_FILE: file('pg-password', `${password}\n`),
      REDIS_URL: 'redis://redis:6379',
      REDIS_PASSWORD_FILE: file('redis-password', 'r3dis\n'),
    };
    const s = loadSettings(env);
    const pg = new URL(s.databaseUrl);
    expect([pg.username, decodeURIComponent(pg.password), pg.host, pg.pathname]).toEqual(['damascus', password, 'postgres:5432', '/damascus']);
    expect(new URL(s.redisUrl).password).toBe('r3dis');
    expect(loadSettings({ DATABASE_URL: 'postgres://u@h/db' }).databaseUrl).toBe('postgres://u@h/db');
    expect(loadSettings({}).redisUrl).toBe('redis://127.0.0.1:6379');
  });

  test('a password for a URL that is not one is a ConfigError that names the variables, not the values', () => {
    const e = configError({ REDIS_URL: 'not a url', REDIS_PASSWORD: 'hunter2-secret' });
    expect(e.message).toMatch(/REDIS_PASSWORD is set, but REDIS_URL is not a URL/);
    expect(e.message).not.toContain('hunter2');
  });
});

describe('the dashboard and bind settings', () => {
  test('DAMASCUS_BIND defaults to every interface; the session lasts 12 h unless DAMASCUS_DASHBOARD_SESSION_HOURS says otherwise', () => {
    expect(loadSettings({}).bindHost).toBe('0.0.0.0');
    expect(loadSettings({ DAMASCUS_BIND: '127.0.0.1' }).bindHost).toBe('127.0.0.1');
    expect(loadSettings({}).dashboardSessionHours).toBe(12);
    expect(loadSettings({ DAMASCUS_DASHBOARD_SESSION_HOURS: '2' }).dashboardSessionHours).toBe(2);
    expect(configError({ DAMASCUS_DASHBOARD_SESSION_HOURS: '0' }).message).toMatch(/DAMASCUS_DASHBOARD_SESSION_HOURS must be a positive whole number/);
  });

  test('DAMASCUS_SETUP_TOKEN is not a process setting: loadSettings never reads its file, loadSetupToken does', () => {
    const missing = join(dir, 'no-such-setup-token');
    // an unreadable _FILE would throw if loadSettings read it
    expect(() => loadSettings({ DAMASCUS_SETUP_TOKEN_FILE: missing })).not.toThrow();
    expect(Object.values(loadSettings({ DAMASCUS_SETUP_TOKEN: 'setup-secret-1' }))).not.toContain('setup-secret-1');
    expect(() => loadSetupToken({ DAMASCUS_SETUP_TOKEN_FILE: missing })).toThrow(ConfigError);
    expect(loadSetupToken({ DAMASCUS_SETUP_TOKEN_FILE: file('setup-token', 'setup-secret-2\n') })).toBe('setup-secret-2');
    expect(loadSetupToken({})).toBeUndefined();
  });
});
