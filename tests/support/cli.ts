import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'index.js');
export const SCRIPTED_PHASES = join(ROOT, 'tests', 'fixtures', 'phases', 'scripted.mjs');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built `damascus` CLI as a real process (npm test builds it first). */
export function damascus(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DAMASCUS_LOG_LEVEL: 'warn', ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
