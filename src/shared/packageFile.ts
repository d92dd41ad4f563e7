import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A file or folder at the root of the damascus package (schema/, app.yml), found by walking up from
 * this file, so it resolves the same from src/ (tests) and dist/src/ (the installed CLI).
 */
export function packageFile(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, name)) && existsSync(join(dir, 'package.json'))) return join(dir, name);
    dir = dirname(dir);
  }
  throw new Error(`cannot find ${name} of the damascus package`);
}
