/** Finds the JUnit XML reports the test command wrote and reduces them to counts and names. */
import { closeSync, constants, type Dirent, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { ReviewTests } from '../../src/domain/reviewResult.js';

export const DEFAULT_JUNIT_PATTERNS = '**/junit*.xml,**/TEST-*.xml';
const MAX_DEPTH = 8;
const MAX_FILES = 50;
const MAX_ENTRIES_VISITED = 20_000;
const MAX_REPORT_BYTES = 20 * 1024 * 1024;
/** Name lists are capped so a huge suite cannot blow up the posted body; counts stay exact. */
const MAX_NAMES = 200;
/** …and each name is cut, so the posted result stays well under the orchestrator's size limit. */
const MAX_NAME_LENGTH = 500;
const SKIP_DIRS = new Set(['node_modules', '.git']);

/** A glob with `**\/` (any directories), `*` and `?` (within one path segment) as a RegExp over "/" paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (glob.startsWith('**/', i)) {
      re += '(?:[^/]*/)*';
      i += 2;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Report files under `root` matching any of the comma-separated `patterns`, modified at or after
 * `sinceMs` (a report committed to the repo is not this run's result). A small bounded walk.
 */
export function findJUnitFiles(root: string, patterns: string, sinceMs: number): string[] {
  const matchers = patterns
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map(globToRegExp);
  const found: string[] = [];
  let visited = 0;
  const walk = (dir: string, depth: number): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (found.length >= MAX_FILES || ++visited > MAX_ENTRIES_VISITED) return;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (depth < MAX_DEPTH && !SKIP_DIRS.has(entry.name)) walk(full, depth + 1);
      } else if (entry.isFile()) {
        const rel = relative(root, full).split(sep).join('/');
        if (!matchers.some((m) => m.test(rel))) continue;
        const st = statSync(full);
        if (st.mtimeMs >= sinceMs && st.size <= MAX_REPORT_BYTES) found.push(full);
      }
    }
  };
  walk(root, 0);
  return found;
}

/** The report was written by the test command: a symlink swapped in after the walk must not be followed. */
function readNoFollow(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  isArray: (name) => ['testsuites', 'testsuite', 'testcase', 'failure', 'error', 'skipped'].includes(name),
});

function asNodes(v: unknown): XmlNode[] {
  return Array.isArray(v) ? v.filter((n): n is XmlNode => typeof n === 'object' && n !== null) : [];
}

function caseName(tc: XmlNode): string {
  const name = String(tc['@_name'] ?? '');
  const cls = String(tc['@_classname'] ?? '');
  // Some reporters (jest-junit) repeat the class name inside the name.
  const full = cls === '' || name.startsWith(cls) ? name : `${cls}.${name}`;
  return full.length > MAX_NAME_LENGTH ? `${full.slice(0, MAX_NAME_LENGTH)}…` : full;
}

/**
 * Every <testcase> under any (nested) <testsuite> or <testsuites>. Loops, not `push(...list)`: a report with some
 * 150,000 cases overflowed the stack as spread arguments. The parser caps the nesting depth.
 */
function collectCases(node: XmlNode, out: XmlNode[]): void {
  for (const tc of asNodes(node.testcase)) out.push(tc);
  for (const child of [...asNodes(node.testsuite), ...asNodes(node.testsuites)]) collectCases(child, out);
}

/** Append up to MAX_NAMES names in all (a loop, for the same reason as collectCases). */
function addNames(to: string[], names: readonly string[]): void {
  for (const name of names) {
    if (to.length >= MAX_NAMES) return;
    to.push(name);
  }
}

/** Counts and names from one JUnit XML text. Throws on text that is not XML. */
export function parseJUnit(xml: string): ReviewTests {
  const doc = parser.parse(xml, true) as XmlNode;
  const cases: XmlNode[] = [];
  collectCases(doc, cases);
  const failing: string[] = [];
  const skippedNames: string[] = [];
  let failed = 0;
  let skipped = 0;
  for (const tc of cases) {
    // Presence is what counts: <failure/> without attributes parses to '' rather than an object.
    if (tc.failure !== undefined || tc.error !== undefined) {
      failed++;
      if (failing.length < MAX_NAMES) failing.push(caseName(tc));
    } else if (tc.skipped !== undefined) {
      skipped++;
      if (skippedNames.length < MAX_NAMES) skippedNames.push(caseName(tc));
    }
  }
  return { total: cases.length, failed, skipped, failing, skippedNames };
}

/** Sum of all reports; null when there are none. Unreadable reports are reported through `warn`. */
export function summarizeJUnit(files: readonly string[], warn: (msg: string) => void): ReviewTests | null {
  let sum: ReviewTests | null = null;
  for (const file of files) {
    let one: ReviewTests;
    try {
      one = parseJUnit(readNoFollow(file));
    } catch (err) {
      warn(`ignoring ${file}: not valid JUnit XML (${(err as Error).message.split('\n')[0]})`);
      continue;
    }
    sum = sum ?? { total: 0, failed: 0, skipped: 0, failing: [], skippedNames: [] };
    sum.total += one.total;
    sum.failed += one.failed;
    sum.skipped += one.skipped;
    addNames(sum.failing, one.failing);
    addNames(sum.skippedNames, one.skippedNames);
  }
  return sum;
}
