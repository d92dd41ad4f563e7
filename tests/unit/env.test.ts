/**
 * The `_FILE` settings of loadSettings: a secret from the file a variable names (Docker secrets, or the
 * files deploy/provision.sh writes), the plain variable winning when it is set.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadSettings, type Settings } from '../../src/config/env.js';

const SECRETS = [
  ['GITEA_TOKEN', 'giteaToken'],
  ['DAMASCUS_WEBHOOK_SECRET', 'webhookSecret'],
  ['DAMASCUS_CALLBACK_SECRET', 'callbackSecret'],
  ['LLM_API_KEY', 'llmApiKey'],
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
    for (const [label, content] of [['empty', ''], ['newline-only', '\n']] as const) {
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
  test('the review workflow\'s runs-on label: ubuntu-latest unless set', () => {
    expect(loadSettings({}).runsOn).toBe('ubuntu-latest');
    expect(loadSettings({ DAMASCUS_RUNS_ON: '' }).runsOn).toBe('ubuntu-latest');
    expect(loadSettings({ DAMASCUS_RUNS_ON: 'damascus' }).runsOn).toBe('damascus');
  });
});
