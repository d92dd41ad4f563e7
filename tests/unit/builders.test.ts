import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builderArgv, chooseBuilder, operatorBuilders } from '../../src/agent/builders.js';
import { loadSettings } from '../../src/config/env.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'damascus-builders-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('builders are the operator\'s; a repository only picks one by name', () => {
  test('the default is Claude Code with its credential variables and model host; the prompt travels as a file', () => {
    const b = chooseBuilder(loadSettings({}), null, {});
    if ('error' in b) throw new Error(b.error);
    expect(b).toMatchObject({ name: 'claude-code', env: expect.arrayContaining(['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN']), allowHosts: ['https://api.anthropic.com'] });
    const argv = builderArgv(b, { promptFile: '/in/prompt.md', inputDir: '/in', maxTurns: 7 });
    expect(argv.slice(0, 3)).toEqual(['claude', '-p', 'Read /in/prompt.md and carry out the task it describes.']);
    expect(argv).toEqual(expect.arrayContaining(['--allowedTools', 'Read', 'Edit', 'Write', 'Glob', 'Grep', '--max-turns', '7']));
  });

  test('DAMASCUS_BUILDER_COMMAND becomes the default `command` builder; a builders file adds named ones', async () => {
    const file = join(dir, 'builders.yml');
    await writeFile(file, 'builders:\n  local:\n    command: [codex, exec, --prompt-file, "{promptFile}"]\n    env: [OPENAI_API_KEY]\n    allow_hosts: ["http://127.0.0.1:11434"]\n');
    const settings = loadSettings({ DAMASCUS_BUILDER_COMMAND: '["my-agent", "{promptFile}"]', DAMASCUS_BUILDERS_FILE: file });
    expect([...operatorBuilders(settings, {}).keys()]).toEqual(['claude-code', 'command', 'local']);
    const def = chooseBuilder(settings, null, {});
    expect('error' in def ? def.error : builderArgv(def, { promptFile: '/p.md', inputDir: '/in', maxTurns: 3 })).toEqual(['my-agent', '/p.md']);
    const local = chooseBuilder(settings, 'local', {});
    expect(local).toMatchObject({ name: 'local', env: ['OPENAI_API_KEY'], allowHosts: ['http://127.0.0.1:11434'] });
  });

  test('a repository naming a builder the operator did not define gets an error listing those that exist', () => {
    expect(chooseBuilder(loadSettings({}), 'sh-on-the-host', {})).toEqual({ error: 'builder "sh-on-the-host" is not defined on this installation (defined: claude-code)' });
  });

  test('a builders file with an unknown key or a bad command is a clear error naming the file', async () => {
    const file = join(dir, 'bad.yml');
    await writeFile(file, 'builders:\n  x:\n    commnd: [a]\n');
    expect(() => operatorBuilders(loadSettings({ DAMASCUS_BUILDERS_FILE: file }), {})).toThrow(`${file}: unknown key builders.x.commnd`);
    await writeFile(file, 'builders:\n  x:\n    command: "sh -c"\n');
    expect(() => operatorBuilders(loadSettings({ DAMASCUS_BUILDERS_FILE: file }), {})).toThrow(`${file}: builders.x.command must be a list of strings`);
  });
});
