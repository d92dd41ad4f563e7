/**
 * The house rules of src/: each folder sits on a layer, and no import runs up the order
 *   shared ← domain ← config ← adapters (db, gitea, llm, agent) ← application services ← edges (queue, http, cli).
 * Adapters do not import one another (what two of them share belongs in the domain); application services and
 * edges may use others of their own layer as long as the folders do not import each other in a circle.
 * No exception list: a new folder must be given a layer here, and a violation is fixed in the code.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

const LAYERS: Record<string, number> = {
  shared: 0,
  domain: 1,
  config: 2,
  db: 3, gitea: 3, llm: 3, agent: 3,
  intake: 4, mirror: 4, inbox: 4, reconcile: 4, setup: 4, phases: 4, tick: 4,
  queue: 5, http: 5, cli: 5,
};
const ADAPTERS = 3;
const LAYER_NAMES = ['shared', 'domain', 'config', 'adapters', 'application services', 'edges'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The folder under src/ a path belongs to ("" for a file directly in src/). */
const folderOf = (path: string): string => (relative(SRC, path).split('/').length > 1 ? relative(SRC, path).split('/')[0]! : '');

/** Every relative module a file imports or re-exports, statically or dynamically, resolved to a path. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|[\s;])(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm)]
    .map((m) => m[1] ?? m[2] ?? m[3]!)
    .filter((s) => s.startsWith('.'));
  return specs.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

interface Edge { from: string; to: string; file: string; target: string }

function folderEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    for (const target of importsOf(file)) {
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) edges.push({ from, to, file: relative(SRC, file), target: relative(SRC, target) });
    }
  }
  return edges;
}

/** Why this edge breaks the rules, or null. */
function violation(e: Edge): string | null {
  const a = LAYERS[e.from];
  const b = LAYERS[e.to];
  if (a === undefined) return `src/${e.from || e.file} has no layer (put it in a folder, and give the folder a layer here)`;
  if (b === undefined) return `src/${e.to || e.target} has no layer`;
  if (b > a) return `${e.file} (${LAYER_NAMES[a]}) imports ${e.target} (${LAYER_NAMES[b]}): up the order`;
  if (a === b && a <= ADAPTERS) return `${e.file} imports ${e.target}: ${a === ADAPTERS ? 'adapters do not import one another' : 'one layer, two folders'}`;
  return null;
}

/** A circle among folders of one layer, as "a → b → a", or null. */
function folderCycle(edges: readonly Edge[]): string | null {
  const next = new Map<string, Set<string>>();
  for (const e of edges) (next.get(e.from) ?? next.set(e.from, new Set()).get(e.from)!).add(e.to);
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
  test('every folder has a layer and no import runs up the order or across adapters', () => {
    const found = [...new Set(folderEdges().map(violation).filter((v): v is string => v !== null))];
    expect(found).toEqual([]);
    for (const file of sourceFiles(SRC)) expect(Object.keys(LAYERS)).toContain(folderOf(file));
  });

  test('folders of one layer do not import each other in a circle', () => {
    expect(folderCycle(folderEdges())).toBeNull();
  });

  test('the check sees each kind of import, and would refuse an upward one', () => {
    const edges = folderEdges();
    // A static import, a type-only import and a re-export are all seen (the test must be able to fail).
    expect(edges.some((e) => e.from === 'cli' && e.to === 'db')).toBe(true);
    expect(edges.some((e) => e.from === 'db' && e.to === 'domain')).toBe(true);
    expect(violation({ from: 'domain', to: 'db', file: 'domain/x.ts', target: 'db/y.ts' })).toMatch(/up the order/);
    expect(violation({ from: 'db', to: 'gitea', file: 'db/x.ts', target: 'gitea/y.ts' })).toMatch(/adapters do not import one another/);
    expect(violation({ from: 'tick', to: 'phases', file: 'tick/x.ts', target: 'phases/y.ts' })).toBeNull();
    expect(folderCycle([{ from: 'queue', to: 'http', file: '', target: '' }, { from: 'http', to: 'queue', file: '', target: '' }])).toBe('queue → http → queue');
  });
});
