/**
 * The house rules of src/: each folder sits on a layer, and no import runs up the order
 *   shared (0) ← domain (1) ← config (2) ← adapters db, gitea, llm, agent (3) ← application services (4) ← edges queue, http, cli (5).
 * Adapters do not import one another (what two of them share belongs in the domain); application services and
 * edges may use others of their own layer as long as the folders do not import each other in a circle.
 * No exception list: a new folder must be given a layer here, and a violation is fixed in the code.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

const LAYERS: Readonly<Record<string, number>> = {
  shared: 0,
  domain: 1,
  config: 2,
  db: 3,
  gitea: 3,
  llm: 3,
  agent: 3,
  mirror: 4,
  inbox: 4,
  reconcile: 4,
  setup: 4,
  phases: 4,
  tick: 4,
  queue: 5,
  http: 5,
  cli: 5,
};
const ADAPTERS = 3;
const LAYER_NAMES = ['shared', 'domain', 'config', 'adapters', 'application services', 'edges'];

/** One import between two files, as paths relative to src/. */
interface Import {
  file: string;
  target: string;
}

/**
 * The relative modules a source text imports, by TypeScript's own scanner: static and type-only imports,
 * re-exports, side-effect imports and dynamic `import()`.
 */
function importSpecifiers(text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith('.'));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function importsOfSrc(): Import[] {
  return sourceFiles(SRC).flatMap((path) =>
    importSpecifiers(readFileSync(path, 'utf8')).map((s) => ({
      file: relative(SRC, path),
      target: relative(SRC, resolve(dirname(path), s)).replace(/\.js$/, '.ts'),
    })),
  );
}

/** The folder under src/ a path belongs to ("" for a file directly in src/, which has no layer). */
const folderOf = (path: string): string => {
  const parts = path.split('/');
  return parts.length > 1 ? parts[0]! : '';
};

/** Why each import breaks the rules, naming file and import. */
function violations(imports: readonly Import[]): string[] {
  const found: string[] = [];
  for (const { file, target } of imports) {
    const from = folderOf(file);
    const to = folderOf(target);
    const a = LAYERS[from];
    const b = LAYERS[to];
    if (a === undefined) found.push(`src/${file}: its folder has no layer (put it in a folder, and give the folder a layer here)`);
    else if (b === undefined) found.push(`src/${file} imports src/${target}, whose folder has no layer`);
    else if (b > a) found.push(`src/${file} (${LAYER_NAMES[a]}) imports src/${target} (${LAYER_NAMES[b]}): up the order`);
    else if (from !== to && a === ADAPTERS && b === ADAPTERS) found.push(`src/${file} imports src/${target}: adapters do not import one another`);
  }
  return [...new Set(found)];
}

/** A circle in the folder graph, as "a → b → a", or null. */
function folderCycle(imports: readonly Import[]): string | null {
  const next = new Map<string, Set<string>>();
  for (const { file, target } of imports) {
    const from = folderOf(file);
    const to = folderOf(target);
    if (from === to) continue;
    const set = next.get(from) ?? new Set<string>();
    set.add(to);
    next.set(from, set);
  }
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string | null => {
    if (state.get(n) === 'done') return null;
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n].join(' → ');
    state.set(n, 'open');
    path.push(n);
    for (const m of next.get(n) ?? []) {
      const found = visit(m);
      if (found) return found;
    }
    path.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of next.keys()) {
    const found = visit(n);
    if (found) return found;
  }
  return null;
}

describe('the layers of src/', () => {
  test('every file sits in a folder with a layer, and no import runs up the order or across adapters', () => {
    const imports = importsOfSrc();
    expect(imports.length).toBeGreaterThan(100);
    expect(violations(imports)).toEqual([]);
    for (const file of sourceFiles(SRC)) expect(Object.keys(LAYERS)).toContain(folderOf(relative(SRC, file)));
  });

  test('the folder graph has no cycle', () => {
    expect(folderCycle(importsOfSrc())).toBeNull();
  });
});

describe('the layer checker itself', () => {
  test('sees every kind of import, type-only and dynamic ones included, and only relative ones', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../db/b.js';",
      "import { type C, d } from '../gitea/c.js';",
      "export { e } from './e.js';",
      "export type { F } from '../llm/f.js';",
      "export * from './g.js';",
      "import './h.js';",
      "const i = await import('../agent/i.js');",
      "type J = typeof import('../cli/j.js');",
      'import {\n  m,\n  type N,\n} from "../tick/m.js";',
      "import { readFileSync } from 'node:fs';",
      "// import { k } from '../http/k.js';",
      'const l = "from \'../queue/l.js\'";',
    ].join('\n');
    expect(importSpecifiers(text)).toEqual([
      './a.js',
      '../db/b.js',
      '../gitea/c.js',
      './e.js',
      '../llm/f.js',
      './g.js',
      './h.js',
      '../agent/i.js',
      '../cli/j.js',
      '../tick/m.js',
    ]);
  });

  test('names each import that runs up the order or across adapters, and a folder with no layer', () => {
    const fixture: Import[] = [
      { file: 'db/ops/x.ts', target: 'domain/states.ts' }, // down: fine
      { file: 'tick/runTick.ts', target: 'phases/build.ts' }, // same layer, application: fine
      { file: 'mirror/relay.ts', target: 'mirror/statusView.ts' }, // inside a folder: fine
      { file: 'db/ops/applyWebhookEvent.ts', target: 'gitea/events.ts' }, // across adapters
      { file: 'domain/spec.ts', target: 'config/repoConfig.ts' }, // up the order
      { file: 'shared/log.ts', target: 'cli/index.ts' }, // up the order
      { file: 'loose.ts', target: 'domain/states.ts' }, // a file in no folder
      { file: 'http/x.ts', target: 'stray/y.ts' }, // a folder with no layer
    ];
    expect(violations(fixture)).toEqual([
      'src/db/ops/applyWebhookEvent.ts imports src/gitea/events.ts: adapters do not import one another',
      'src/domain/spec.ts (domain) imports src/config/repoConfig.ts (config): up the order',
      'src/shared/log.ts (shared) imports src/cli/index.ts (edges): up the order',
      'src/loose.ts: its folder has no layer (put it in a folder, and give the folder a layer here)',
      'src/http/x.ts imports src/stray/y.ts, whose folder has no layer',
    ]);
  });

  test('finds a cycle among folders, and none in a graph without one', () => {
    const acyclic: Import[] = [
      { file: 'cli/a.ts', target: 'http/b.ts' },
      { file: 'http/b.ts', target: 'queue/c.ts' },
      { file: 'cli/a.ts', target: 'queue/c.ts' },
      { file: 'queue/c.ts', target: 'queue/d.ts' },
    ];
    expect(folderCycle(acyclic)).toBeNull();
    expect(folderCycle([...acyclic, { file: 'queue/d.ts', target: 'cli/e.ts' }])).toBe('cli → http → queue → cli');
  });
});
