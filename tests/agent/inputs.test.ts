import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAgentInputs } from '../../src/agent/inputs.js';
import { expandBuilderCommand, parseBuilderCommand } from '../../src/agent/builderCommand.js';
import { redactSecrets, sanitizeAgentEnv, secretValues } from '../../src/agent/sanitizeEnv.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'damascus-in-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('writeAgentInputs writes spec, feedback, answers and a prompt naming them; clears a stale verdict', async () => {
  const inputDir = join(dir, 'in');
  await writeAgentInputs(inputDir, { spec: 'x' });
  await writeFile(join(inputDir, 'verdict.json'), '{"verdict":"spec_wrong"}');
  const f = await writeAgentInputs(inputDir, {
    spec: '## Summary\nSay hi.',
    feedback: 'FAIL tests/a.test.ts',
    answers: [{ question: 'Which port?', answer: '8080', by: 'alice' }],
  });
  expect(await readFile(f.specFile, 'utf8')).toBe('## Summary\nSay hi.');
  expect(await readFile(f.feedbackFile as string, 'utf8')).toBe('FAIL tests/a.test.ts');
  const answers = await readFile(f.answersFile as string, 'utf8');
  expect(answers).toContain('Which port?');
  expect(answers).toContain('**Answer by @alice:**\n\n8080');
  const prompt = await readFile(f.promptFile, 'utf8');
  for (const p of [f.specFile, f.feedbackFile as string, f.answersFile as string, f.verdictFile]) expect(prompt).toContain(p);
  expect(existsSync(f.verdictFile)).toBe(false);
  expect((await stat(inputDir)).mode & 0o777).toBe(0o700);

  // A later attempt without feedback or answers leaves no stale files behind.
  const g = await writeAgentInputs(inputDir, { spec: 'y' });
  expect(g.feedbackFile).toBeNull();
  expect(existsSync(join(inputDir, 'feedback.md'))).toBe(false);
  expect(existsSync(join(inputDir, 'answers.md'))).toBe(false);
  expect(await readFile(g.promptFile, 'utf8')).not.toContain('feedback.md');
});

test('parseBuilderCommand: JSON arrays or quoted words, never a shell', () => {
  expect(parseBuilderCommand('["aider", "--message-file", "{promptFile}"]')).toEqual(['aider', '--message-file', '{promptFile}']);
  expect(parseBuilderCommand(`claude -p 'two words' --x "a b"c`)).toEqual(['claude', '-p', 'two words', '--x', 'a bc']);
  expect(parseBuilderCommand('echo $HOME; rm -rf /')).toEqual(['echo', '$HOME;', 'rm', '-rf', '/']);
  expect(parseBuilderCommand(`a ''`)).toEqual(['a', '']);
  expect(() => parseBuilderCommand('a "b')).toThrow(/unclosed quote/);
  expect(() => parseBuilderCommand('  ')).toThrow(/empty/);
  expect(() => parseBuilderCommand('[1]')).toThrow(/array of strings/);
  expect(expandBuilderCommand(['x', '--f={promptFile}', '{unknown}'], { promptFile: '/p.md' })).toEqual(['x', '--f=/p.md', '{unknown}']);
});

test('sanitizeAgentEnv drops Damascus secrets and credential-looking names unless allowed', () => {
  const env = sanitizeAgentEnv(
    {
      PATH: '/bin',
      LANG: 'C',
      GITEA_TOKEN: 't',
      DAMASCUS_WEBHOOK_SECRET: 's',
      DATABASE_URL: 'postgres://x',
      REDIS_URL: 'redis://x',
      LLM_API_KEY: 'k',
      NPM_TOKEN: 'n',
      AWS_SECRET_ACCESS_KEY: 'a',
      ANTHROPIC_API_KEY: 'ant',
      DAMASCUS_DATA_DIR: '/data',
      HOME: '/root',
      GONE: undefined,
    },
    { allow: ['ANTHROPIC_API_KEY', 'GITEA_TOKEN'], home: '/run/home' },
  );
  expect(env).toEqual({ PATH: '/bin', LANG: 'C', ANTHROPIC_API_KEY: 'ant', DAMASCUS_DATA_DIR: '/data', HOME: '/run/home', DISABLE_AUTOUPDATER: '1' });
});

test('secretValues and redactSecrets', () => {
  const values = secretValues({ GITEA_TOKEN: 'abcdef123', SHORT_TOKEN: 'abc', PATH: '/usr/bin:/bin', DATABASE_URL: 'postgres://u:p@h/db' });
  expect(values).toEqual(['postgres://u:p@h/db', 'abcdef123']);
  expect(redactSecrets('token abcdef123 and abcdef123', values)).toBe('token [redacted] and [redacted]');
});
