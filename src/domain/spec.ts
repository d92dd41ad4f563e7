/**
 * Spec parsing and the spec-refiner's self-check (pure). A spec is Markdown with '#'/'##' sections;
 * deeper headings belong to the section above them.
 */

import { createHash } from 'node:crypto';

export interface AcceptanceCriterion {
  id: string;
  text: string;
}

export interface ParsedSpec {
  /** Heading text as written → section body (trimmed). Look up with `sectionBody` (case-insensitive). */
  sections: Map<string, string>;
  acceptanceCriteria: AcceptanceCriterion[];
  testCommand: string | null;
  scope: string[];
  openQuestions: string[];
  /** Problems found while parsing (e.g. two fenced blocks under Test Command). */
  problems: string[];
}

export type SpecVerdict = 'pass' | 'spec_wrong' | 'needs_human';

export interface SpecCheck {
  verdict: SpecVerdict;
  problems: string[];
  questions: string[];
  spec: ParsedSpec;
}

/*
 * Spec text is untrusted (the LLM writes it, steered by issue text), so every pattern here matches in linear time:
 * no quantified run is followed by another that can take the same characters, and `[\s\S]*` (not `.*`) ends a
 * line pattern, so a U+2028 or a lone CR inside a line cannot make the engine retry every split of a run before it.
 */
const FENCE = /^\s{0,3}(`{3,}|~{3,})([\s\S]*)$/;
/** A spec longer than this is cut before parsing (an LLM answer is far shorter; the parse is linear anyway). */
export const MAX_SPEC_CHARS = 1024 * 1024;
/** Scope globs and paths longer than this never match (globMatches is O(glob × path)). */
const MAX_GLOB_CHARS = 1024;
const MAX_PATH_CHARS = 4096;

/** `text` without a CommonMark closing sequence ("## Scope ##"): hashes after whitespace at the end. */
function withoutClosingHashes(text: string): string {
  const t = text.trimEnd();
  let i = t.length;
  while (i > 0 && t[i - 1] === '#') i--;
  return i < t.length && i > 0 && /\s/.test(t[i - 1]!) ? t.slice(0, i).trimEnd() : t;
}

/** `text` without trailing characters from `chars` (a loop: `/[.!]+$/` retries each start of a long run). */
function trimEndChars(text: string, chars: string): string {
  let i = text.length;
  while (i > 0 && chars.includes(text[i - 1]!)) i--;
  return text.slice(0, i);
}

function normalizeHeading(text: string): string {
  return trimEndChars(withoutClosingHashes(text.trimStart()), '*_')
    .replace(/^[*_]+/, '') // **bold** headings
    .replace(/^\d+[.)]\s+/, '') // "2. Scope"
    .replace(/:\s*$/, '')
    .trim();
}

function key(name: string): string {
  return normalizeHeading(name).toLowerCase().replace(/\s+/g, ' ');
}

/** Split Markdown into lines, telling which lines are inside fenced code blocks. */
function scanLines(markdown: string): { text: string; inFence: boolean; fenceEdge: boolean }[] {
  const out: { text: string; inFence: boolean; fenceEdge: boolean }[] = [];
  let open: string | null = null;
  for (const text of markdown.slice(0, MAX_SPEC_CHARS).split(/\r?\n/)) {
    const m = FENCE.exec(text);
    if (open === null && m) {
      open = m[1] ?? '```';
      out.push({ text, inFence: true, fenceEdge: true });
    } else if (open !== null && m && (m[1] ?? '').startsWith(open) && (m[2] ?? '').trim() === '') {
      open = null;
      out.push({ text, inFence: true, fenceEdge: true });
    } else {
      out.push({ text, inFence: open !== null, fenceEdge: false });
    }
  }
  return out;
}

function splitSections(markdown: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | null = null;
  let body: string[] = [];
  const flush = (): void => {
    if (current !== null && !sections.has(current)) sections.set(current, body.join('\n').trim());
  };
  for (const line of scanLines(markdown)) {
    const h = line.inFence ? null : /^\s{0,3}#{1,2}\s([\s\S]+)$/.exec(line.text);
    if (h) {
      flush();
      current = normalizeHeading(h[1] ?? '');
      body = [];
    } else if (current !== null) {
      body.push(line.text);
    }
  }
  flush();
  return sections;
}

/** A section's body by name, case-insensitively; undefined when the spec has no such section. */
export function sectionBody(sections: Map<string, string>, name: string): string | undefined {
  const want = key(name);
  for (const [heading, body] of sections) if (key(heading) === want) return body;
  return undefined;
}

/** Top-level list items ('-', '*', '+', '1.'), with indented continuation lines folded in. */
function listItems(body: string): string[] {
  const items: string[] = [];
  for (const line of scanLines(body)) {
    if (line.inFence) continue;
    const m = /^\s{0,3}(?:[-*+]|\d+[.)])\s([\s\S]*)$/.exec(line.text);
    if (m) items.push((m[1] ?? '').trim());
    else if (items.length > 0 && /^\s+\S/.test(line.text)) items[items.length - 1] += ` ${line.text.trim()}`;
  }
  return items.filter((x) => x !== '');
}

function plainText(s: string): string {
  return s.replace(/[*_`]/g, '').trim();
}

/** "None", "none.", "-", "N/A", "No open questions." and the like. */
export function meansNone(text: string): boolean {
  const t = trimEndChars(plainText(text).toLowerCase(), '.!').trim();
  return t === '' || /^(-+|—|–|n\/?a|none|nothing|no( open)? questions?)(\b[\s\S]*)?$/.test(t);
}

function parseCriteria(body: string | undefined): AcceptanceCriterion[] {
  if (body === undefined) return [];
  const out: AcceptanceCriterion[] = [];
  for (const line of scanLines(body)) {
    if (line.inFence) continue;
    const m = /^\s*(?:[-*+]\s+|\d+[.)]\s+)?(?:\*\*|__)?(AC-\d+)(?:\*\*|__)?([\s\S]*)$/.exec(line.text);
    if (m) out.push({ id: m[1] ?? '', text: criterionText(m[2] ?? '') });
    else if (out.length > 0 && /^\s+\S/.test(line.text)) {
      const last = out[out.length - 1];
      if (last) last.text = `${last.text} ${line.text.trim()}`.trim();
    }
  }
  return out;
}

/** After "AC-3": an optional ':', '.', ')' or dash and a closing '**', each with spaces around, then the text. */
function criterionText(rest: string): string {
  let s = rest.trimStart();
  if (/^[:.)\-–—]/.test(s)) s = s.slice(1).trimStart();
  if (s.startsWith('**') || s.startsWith('__')) s = s.slice(2);
  return s.trim();
}

function parseTestCommand(body: string | undefined, problems: string[]): string | null {
  if (body === undefined) return null;
  const blocks: string[][] = [];
  let inBlock = false;
  for (const line of scanLines(body)) {
    if (line.fenceEdge) {
      // scanLines marks opening and closing fences alike; they alternate.
      if (!inBlock) blocks.push([]);
      inBlock = !inBlock;
    } else if (inBlock) {
      blocks[blocks.length - 1]?.push(line.text);
    }
  }
  if (blocks.length === 0) {
    problems.push('Test Command has no fenced code block with the command');
    return null;
  }
  if (blocks.length > 1) {
    problems.push(`Test Command must have exactly one fenced code block (found ${blocks.length})`);
    return null;
  }
  const lines = (blocks[0] ?? []).map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) {
    problems.push('Test Command code block is empty');
    return null;
  }
  if (lines.length > 1) {
    problems.push('Test Command must be a single command line (join steps with &&)');
    return null;
  }
  return lines[0] ?? null;
}

/** Paths from Scope list items: backticked paths when present, else the item's first word. */
function parseScope(body: string | undefined): string[] {
  if (body === undefined) return [];
  const out: string[] = [];
  for (const item of listItems(body)) {
    const ticked = [...item.matchAll(/`([^`]+)`/g)].map((m) => (m[1] ?? '').trim());
    const first = (item.split(/\s+/)[0] ?? '').replace(/^(\*\*|__)(.+)\1$/, '$2');
    const paths = ticked.length > 0 ? ticked : [first];
    for (const p of paths) {
      const clean = p.replace(/^\.\//, '').replace(/[,;:]$/, '');
      if (clean !== '' && !meansNone(clean) && !out.includes(clean)) out.push(clean);
    }
  }
  return out;
}

function parseQuestions(body: string | undefined): string[] {
  if (body === undefined || meansNone(body)) return [];
  const items = listItems(body);
  if (items.length > 0) return items.filter((q) => !meansNone(q));
  // Prose instead of a list: each paragraph is one question.
  return body
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => !meansNone(p));
}

export function parseSpec(markdown: string): ParsedSpec {
  const sections = splitSections(markdown);
  const problems: string[] = [];
  const testBody = sectionBody(sections, 'Test Command');
  return {
    sections,
    acceptanceCriteria: parseCriteria(sectionBody(sections, 'Acceptance Criteria')),
    testCommand: parseTestCommand(testBody, problems),
    scope: parseScope(sectionBody(sections, 'Scope')),
    openQuestions: parseQuestions(sectionBody(sections, 'Open Questions')),
    problems,
  };
}

function isRequired(required: readonly string[], name: string): boolean {
  return required.some((r) => key(r) === key(name));
}

/**
 * The spec-refiner's check of its own output: a broken spec goes back to the spec phase
 * (`spec_wrong`), open questions go to a human, anything else passes. A Scope entry that covers every
 * file (`.`, `**`, `*`, `/`) is a problem unless the repo allows it (`allow_catch_all_scope`).
 */
export function checkSpec(markdown: string, requiredSections: readonly string[], opts: { allowCatchAllScope?: boolean } = {}): SpecCheck {
  const spec = parseSpec(markdown);
  const problems: string[] = [];
  for (const name of requiredSections) {
    const body = sectionBody(spec.sections, name);
    if (body === undefined) problems.push(`missing required section "${name}"`);
    else if (body === '' && key(name) !== 'open questions') problems.push(`required section "${name}" is empty`);
  }
  if (isRequired(requiredSections, 'Acceptance Criteria') && sectionBody(spec.sections, 'Acceptance Criteria')) {
    if (spec.acceptanceCriteria.length === 0) problems.push('Acceptance Criteria has no numbered criteria (AC-1, AC-2, …)');
    const ids = spec.acceptanceCriteria.map((c) => c.id);
    const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (dupes.length > 0) problems.push(`duplicate acceptance criteria ids: ${[...new Set(dupes)].join(', ')}`);
    const empty = spec.acceptanceCriteria.filter((c) => c.text === '').map((c) => c.id);
    if (empty.length > 0) problems.push(`acceptance criteria without text: ${empty.join(', ')}`);
  }
  // Test-command problems count whenever the section is written (an empty or missing one is reported above).
  if (sectionBody(spec.sections, 'Test Command')) problems.push(...spec.problems);
  if (isRequired(requiredSections, 'Scope') && sectionBody(spec.sections, 'Scope') && spec.scope.length === 0) {
    problems.push('Scope lists no files or folders');
  }
  const catchAll = opts.allowCatchAllScope ? [] : spec.scope.filter(isCatchAllScope);
  if (catchAll.length > 0) {
    problems.push(`Scope ${catchAll.map((s) => `"${s}"`).join(', ')} would put every file in scope: name the files or folders the change needs`);
  }
  if (problems.length > 0) return { verdict: 'spec_wrong', problems, questions: [], spec };
  if (spec.openQuestions.length > 0) return { verdict: 'needs_human', problems, questions: spec.openQuestions, spec };
  return { verdict: 'pass', problems, questions: [], spec };
}

function normPath(p: string): string {
  return p.trim().replace(/\\/g, '/').replace(/^\.\//, '').replace(/^\/+/, '');
}

type GlobToken = { kind: 'any' } | { kind: 'segment' } | { kind: 'one' } | { kind: 'char'; ch: string };

/** `**` (any characters, '/' too; "a/**\/b" also matches "a/b"), `*` (within a segment), `?` (one character but '/'). */
function globTokens(glob: string): GlobToken[] {
  const out: GlobToken[] = [];
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') i++;
      out.push({ kind: 'any' });
    } else if (ch === '*') out.push({ kind: 'segment' });
    else if (ch === '?') out.push({ kind: 'one' });
    else out.push({ kind: 'char', ch });
  }
  return out;
}

/**
 * Whether the whole path matches the glob, by stepping the set of glob positions reached along the path:
 * O(glob × path) whatever the glob (a regex of several `.*` backtracks polynomially in their number).
 */
function globMatches(glob: string, path: string): boolean {
  if (glob.length > MAX_GLOB_CHARS || path.length > MAX_PATH_CHARS) return false;
  const tokens = globTokens(glob);
  const n = tokens.length;
  // reach[k]: tokens[0..k) can match the path read so far; a star also matches nothing, so it passes reach on.
  let reach: Uint8Array = new Uint8Array(n + 1);
  const close = (r: Uint8Array): Uint8Array => {
    for (let k = 0; k < n; k++) if (r[k] && tokens[k]!.kind !== 'char' && tokens[k]!.kind !== 'one') r[k + 1] = 1;
    return r;
  };
  reach[0] = 1;
  close(reach);
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    const next = new Uint8Array(n + 1);
    for (let k = 0; k < n; k++) {
      if (!reach[k]) continue;
      const t = tokens[k]!;
      if (t.kind === 'any' || (t.kind === 'segment' && ch !== '/')) next[k] = 1;
      else if ((t.kind === 'one' && ch !== '/') || (t.kind === 'char' && t.ch === ch)) next[k + 1] = 1;
    }
    reach = close(next);
  }
  return reach[n] === 1;
}

/**
 * A Scope entry that puts (nearly) every file in scope: made only of '*', '.', '/' and '\\' ('.', '**',
 * '*', '/', '**' + '/*' and the like). '*' alone covers every top-level file, package.json and CI configs included.
 */
export function isCatchAllScope(entry: string): boolean {
  return /^[*./\\\s]*$/.test(entry);
}

/**
 * Whether a repository path is covered by the spec's Scope: an exact file, a folder ('src/' or 'src'),
 * or a glob ('src/**', 'src/*.ts', '**').
 */
export function isInScope(path: string, scope: readonly string[]): boolean {
  const p = normPath(path);
  return scope.some((raw) => {
    const s = normPath(raw);
    if (s === '' || s === '.' || s === '**') return true;
    if (s.includes('*') || s.includes('?')) return globMatches(s, p);
    const dir = s.endsWith('/') ? s : `${s}/`;
    return p === s || p.startsWith(dir);
  });
}

/** A few lines for a status comment or a log: what the spec asks, how it is tested, where it may touch. */
export function specSummary(spec: ParsedSpec): string {
  const summary =
    (sectionBody(spec.sections, 'Summary') ?? '')
      .split(/\n\s*\n/)[0]
      ?.replace(/\s+/g, ' ')
      .trim() ?? '';
  const lines = [
    summary === '' ? '(no summary)' : summary.length > 300 ? `${summary.slice(0, 297)}...` : summary,
    `${spec.acceptanceCriteria.length} acceptance criteria${spec.acceptanceCriteria.length ? ` (${spec.acceptanceCriteria.map((c) => c.id).join(', ')})` : ''}`,
    `Test command: ${spec.testCommand === null ? '(none)' : `\`${spec.testCommand}\``}`,
    `Scope: ${spec.scope.length === 0 ? '(none)' : spec.scope.map((s) => `\`${s}\``).join(', ')}`,
  ];
  if (spec.openQuestions.length > 0) lines.push(`${spec.openQuestions.length} open question(s)`);
  return lines.join('\n');
}

/** What a writer's approval of a spec's test command is bound to (stored on its spec_approval gate). */
export function testCommandSha256(command: string): string {
  return createHash('sha256').update(command, 'utf8').digest('hex');
}
