#!/usr/bin/env node
// The coding agent of the end-to-end test: the scripted agent (tests/fixtures/agent/scripted-agent.mjs),
// steered per story. Two stories build at the same time, so one shared SCRIPTED_AGENT_FILE would race;
// instead each story has its own script in $E2E_AGENT_DIR, found by the issue number in the branch
// Damascus checked out (damascus/<n>-<slug>):
//   <n>.json           the script of a first build
//   <n>.retry.json     the script of a build that got review feedback (feedback.md), when the file exists
// The choice is recorded in <n>.runs (one line per run) so the test can check what ran, and how long the
// run took in <n>.timing (milliseconds, one line per run): the live suite subtracts it from the build phase.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.env.E2E_AGENT_DIR;
if (!dir) {
  process.stderr.write('story-agent: E2E_AGENT_DIR is not set\n');
  process.exit(2);
}
const branch = execFileSync('git', ['rev-parse', '--abbrev-ref', 'HEAD'], { encoding: 'utf8' }).trim();
const m = /^damascus\/(\d+)-/.exec(branch);
if (!m) {
  process.stderr.write(`story-agent: cannot tell the story from branch ${JSON.stringify(branch)}\n`);
  process.exit(2);
}
const issue = m[1];
const inputDir = process.env.DAMASCUS_AGENT_INPUT_DIR ?? '';
const gotFeedback = inputDir !== '' && existsSync(join(inputDir, 'feedback.md'));
const retry = join(dir, `${issue}.retry.json`);
const file = gotFeedback && existsSync(retry) ? retry : join(dir, `${issue}.json`);
appendFileSync(join(dir, `${issue}.runs`), `${file.endsWith('.retry.json') ? 'retry' : 'first'}\n`);

const scripted = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'agent', 'scripted-agent.mjs');
const started = Date.now();
const res = spawnSync(process.execPath, [scripted], { stdio: 'inherit', env: { ...process.env, SCRIPTED_AGENT_FILE: file } });
appendFileSync(join(dir, `${issue}.timing`), `${Date.now() - started}\n`);
process.exit(res.status ?? 1);
