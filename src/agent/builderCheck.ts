import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Settings } from '../config/env.js';
import { operatorBuilders, resolveProgram, type BuilderDefinition } from './builders.js';
import type { Env } from './presets/types.js';
import { sanitizeAgentEnv } from './sanitizeEnv.js';

export interface BuilderStatus {
  name: string;
  /** The CLI's version as it printed it; null for a command builder or when it could not say. */
  version: string | null;
  /** Why no build with it can work (missing, too old, no credentials); null when it can. */
  problem: string | null;
}

/** "2.1.332" ≥ "2.1.0"? Numeric, part by part. */
export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** Run `program --version` with no secrets and a throwaway HOME; what it printed, or why it failed. */
async function printedVersion(program: string, args: readonly string[], env: Env): Promise<{ out: string } | { error: string }> {
  const home = await mkdtemp(join(tmpdir(), 'damascus-version-'));
  try {
    return await new Promise((resolve) => {
      const child = spawn(program, args, { env: sanitizeAgentEnv(env, { home }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('error', (e) => {
        clearTimeout(timer);
        resolve({ error: e.message });
      });
      // 'close', not 'exit': a fast CLI can exit before its stdout has been read, leaving `out` empty.
      child.once('close', (code, sig) => {
        clearTimeout(timer);
        resolve(code === 0 ? { out } : { error: `\`${args.join(' ')}\` exited with ${code ?? sig}: ${out.trim().slice(0, 200)}` });
      });
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** One builder: is its program installed, new enough, and are its credentials set? */
export async function checkBuilder(b: BuilderDefinition, env: Env = process.env): Promise<BuilderStatus> {
  if (!b.preset) {
    const program = b.command?.[0] ?? '';
    return { name: b.name, version: null, problem: resolveProgram(program, env) ? null : `its program \`${program}\` is not installed (not found on PATH)` };
  }
  const programName = b.program ?? b.preset.program;
  const program = resolveProgram(programName, env);
  if (!program)
    return {
      name: b.name,
      version: null,
      problem: `\`${programName}\` is not installed (not found on PATH); install ${b.preset.name} ${b.preset.minVersion} or later`,
    };
  const printed = await printedVersion(program, b.preset.versionArgs, env);
  if ('error' in printed) return { name: b.name, version: null, problem: `\`${programName}\` does not run: ${printed.error}` };
  const version = /(\d+\.\d+\.\d+)/.exec(printed.out)?.[1] ?? null;
  if (version === null) return { name: b.name, version: null, problem: `\`${programName}\` printed no version: ${printed.out.trim().slice(0, 120)}` };
  if (!versionAtLeast(version, b.preset.minVersion))
    return { name: b.name, version, problem: `${b.preset.name} ${version} is too old: Damascus needs ${b.preset.minVersion} or later` };
  return { name: b.name, version, problem: b.preset.missingCredentials(env) };
}

/** Every builder the installation offers. A builders file that cannot be used is one problem, not a crash. */
export async function checkBuilders(settings: Settings, env: Env = process.env): Promise<BuilderStatus[]> {
  let builders: BuilderDefinition[];
  try {
    builders = [...operatorBuilders(settings, env).values()];
  } catch (e) {
    return [{ name: 'builders', version: null, problem: (e as Error).message }];
  }
  return Promise.all(builders.map((b) => checkBuilder(b, env)));
}

/** One line for logs and checks: "claude-code 2.1.332" or "codex: OPENAI_API_KEY is not set". */
export function describeBuilderStatus(s: BuilderStatus): string {
  return s.problem ? `${s.name}: ${s.problem}` : `${s.name}${s.version ? ` ${s.version}` : ''}`;
}
