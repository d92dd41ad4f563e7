import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builderRun, chooseBuilder } from '../../src/agent/builders.js';
import { writeAgentInputs } from '../../src/agent/inputs.js';
import { runAgent } from '../../src/agent/runAgent.js';
import { loadSettings } from '../../src/config/env.js';
import { createLogger } from '../../src/shared/log.js';
import { ROOT } from '../support/cli.js';
import { StoryModel } from '../support/models/storyModel.js';

/** The model the end-to-end world, the demo and the live suite give the real Claude Code: does it steer it as they need? */
test('the story model makes the real Claude Code read its prompt, then write and append to files, by the story on its branch', async () => {
  const root = await mkdtemp(join(tmpdir(), 'damascus-story-model-'));
  const model = new StoryModel();
  await model.start();
  try {
    const wt = join(root, 'wt');
    await mkdir(wt);
    const git = (...args: string[]) => execFileSync('git', ['-C', wt, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
    git('init', '-q', '-b', 'main');
    await writeFile(join(wt, 'shared.txt'), 'line0\n');
    git('add', '.');
    git('commit', '-qm', 'init');
    git('checkout', '-qb', 'damascus/7-guest-book');
    model.script(7, { writes: { 'new.txt': 'new\n' }, appends: { 'shared.txt': 'A\n' } });
    const env = {
      PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      ANTHROPIC_BASE_URL: model.server.url,
      ANTHROPIC_API_KEY: 'sk-ant-story-model-test-key',
    };
    const builder = chooseBuilder(loadSettings({}), null, env);
    if ('error' in builder) throw new Error(builder.error);
    const files = await writeAgentInputs(join(root, 'input'), { spec: '# Summary\nSign the guest book.' });
    const start = builderRun(builder, { promptFile: files.promptFile, inputDir: files.dir, cwd: wt, home: join(root, 'home'), maxTurns: 10, env });
    if ('error' in start) throw new Error(start.error);
    const run = await runAgent({
      command: start.argv,
      cwd: wt,
      inputDir: files.dir,
      stateDir: root,
      env,
      allowEnv: builder.env,
      extraEnv: start.env,
      homeFiles: start.homeFiles,
      ...(start.reader ? { reader: start.reader } : {}),
      timeoutMs: 60_000,
      log: createLogger('silent'),
    });
    expect(run.report.stop).toBe('completed');
    expect(await readFile(join(wt, 'new.txt'), 'utf8')).toBe('new\n');
    expect(await readFile(join(wt, 'shared.txt'), 'utf8')).toBe('line0\nA\n');
    expect(model.runsOf(7)).toEqual(['first']);
    // Turns: read the prompt, write, read shared.txt, write it back, say done.
    expect(run.numTurns).toBe(5);
  } finally {
    await model.server.close();
    await rm(root, { recursive: true, force: true });
  }
});
