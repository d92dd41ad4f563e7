import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builderRun, chooseBuilder, operatorBuilders, programReadPath, resolveProgram, type BuilderDefinition } from '../../src/agent/builders.js';
import { loadSettings } from '../../src/config/env.js';

const NODE_BIN = join(process.cwd(), 'node_modules', '.bin');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'damascus-builders-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("builders are the operator's; a repository only picks one by name", () => {
  const run = (b: BuilderDefinition, env: Record<string, string | undefined> = { PATH: NODE_BIN }) =>
    builderRun(b, { promptFile: '/in/prompt.md', inputDir: '/in', cwd: '/wt', home: '/run/home', maxTurns: 7, env });

  test('the default is Claude Code with its credential variables and model host; the prompt travels as a file', () => {
    const b = chooseBuilder(loadSettings({}), null, {});
    if ('error' in b) throw new Error(b.error);
    expect(b).toMatchObject({
      name: 'claude-code',
      env: expect.arrayContaining(['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN']),
      allowHosts: ['https://api.anthropic.com'],
    });
    const r = run(b);
    if ('error' in r) throw new Error(r.error);
    // The program as installed (its real path), read-only in the sandbox with the node_modules it came from.
    expect(r.argv[0]).toBe(resolveProgram('claude', { PATH: NODE_BIN }));
    expect(r.read[0]).toBe(programReadPath(r.argv[0]!));
    expect(r.read[0]!.endsWith('/node_modules')).toBe(true);
    expect(r.argv.slice(1, 3)).toEqual(['-p', 'Read /in/prompt.md and carry out the task it describes.']);
    expect(r.argv).toEqual(expect.arrayContaining(['--allowedTools', 'Read', 'Edit', 'Write', 'Glob', 'Grep', '--max-turns', '7']));
    // Claude Code stops itself at --max-turns: Damascus need not count.
    expect(r.turnLimit).toBeNull();
    // Not installed: a clear error, not a spawn failure on the first build.
    expect(run(b, { PATH: '/nowhere' })).toEqual({ error: "the claude-code builder's program `claude` is not installed (not found on PATH)" });
  });

  test('DAMASCUS_BUILDER_COMMAND becomes the default `command` builder; a builders file adds named ones', async () => {
    const file = join(dir, 'builders.yml');
    await writeFile(
      file,
      'builders:\n  local:\n    command: [my-codex, exec, --prompt-file, "{promptFile}"]\n    env: [OPENAI_API_KEY]\n    allow_hosts: ["http://127.0.0.1:11434"]\n  qwen:\n    preset: codex\n    model: qwen2.5-coder:32b\n',
    );
    const settings = loadSettings({ DAMASCUS_BUILDER_COMMAND: '["my-agent", "{promptFile}"]', DAMASCUS_BUILDERS_FILE: file });
    expect([...operatorBuilders(settings, {}).keys()]).toEqual(['command', 'local', 'qwen']);
    const def = chooseBuilder(settings, null, {});
    if ('error' in def) throw new Error(def.error);
    expect(run(def)).toMatchObject({ argv: ['my-agent', '/in/prompt.md'], turnLimit: null });
    const local = chooseBuilder(settings, 'local', {});
    expect(local).toMatchObject({ name: 'local', env: ['OPENAI_API_KEY'], allowHosts: ['http://127.0.0.1:11434'] });
    const qwen = chooseBuilder(settings, 'qwen', { OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' });
    expect(qwen).toMatchObject({
      name: 'qwen',
      model: 'qwen2.5-coder:32b',
      env: expect.arrayContaining(['OPENAI_API_KEY']),
      allowHosts: ['http://127.0.0.1:11434/v1'],
    });
  });

  test('presets are offered only when the operator names them (DAMASCUS_BUILDERS); an unknown name is a clear error', () => {
    expect([...operatorBuilders(loadSettings({}), {}).keys()]).toEqual(['claude-code']);
    expect([...operatorBuilders(loadSettings({ DAMASCUS_BUILDERS: 'codex, opencode' }), {}).keys()]).toEqual(['claude-code', 'codex', 'opencode']);
    expect([...operatorBuilders(loadSettings({ DAMASCUS_BUILDER: 'opencode' }), {}).keys()]).toEqual(['opencode']);
    expect(chooseBuilder(loadSettings({}), 'codex', {})).toEqual({ error: 'builder "codex" is not defined on this installation (defined: claude-code)' });
    expect(() => operatorBuilders(loadSettings({ DAMASCUS_BUILDERS: 'aider' }), {})).toThrow('DAMASCUS_BUILDERS: "aider" is neither a preset');
  });

  test('a repository naming a builder the operator did not define gets an error listing those that exist', () => {
    expect(chooseBuilder(loadSettings({}), 'sh-on-the-host', {})).toEqual({
      error: 'builder "sh-on-the-host" is not defined on this installation (defined: claude-code)',
    });
  });

  test('a builders file with an unknown key or a bad command is a clear error naming the file', async () => {
    const file = join(dir, 'bad.yml');
    await writeFile(file, 'builders:\n  x:\n    commnd: [a]\n');
    expect(() => operatorBuilders(loadSettings({ DAMASCUS_BUILDERS_FILE: file }), {})).toThrow(`${file}: unknown key builders.x.commnd`);
    await writeFile(file, 'builders:\n  x:\n    command: "sh -c"\n');
    expect(() => operatorBuilders(loadSettings({ DAMASCUS_BUILDERS_FILE: file }), {})).toThrow(`${file}: builders.x.command must be a list of strings`);
  });
});
