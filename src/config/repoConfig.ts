import { load, YAMLException } from 'js-yaml';

/** Where the per-repo configuration lives on the default branch. */
export const REPO_CONFIG_PATH = '.gitea/damascus.yml';

export type MergeStyle = 'merge' | 'squash' | 'rebase';

export interface BuilderConfig {
  /** One of the builders the operator defined; null means the installation's default. */
  name: string | null;
  maxTurns: number;
  timeoutMinutes: number;
}

/** `.gitea/damascus.yml`, camelCased, with every default filled in. */
export interface RepoConfig {
  triggerLabel: string;
  budgetCycles: number;
  maxCostUsd: number;
  requiredSpecSections: string[];
  testCommand: string | null;
  reviewWorkflow: string;
  ciTimeoutMinutes: number;
  mergeStyle: MergeStyle;
  requireSpecApproval: boolean;
  builder: BuilderConfig;
  contextFiles: string[];
  /** A spec's Scope may be `.`, `**`, `*` or `/` (every file in scope); off by default. */
  allowCatchAllScope: boolean;
}

export type RepoConfigResult = { ok: true; config: RepoConfig } | { ok: false; error: string; line: number | null };

export const DEFAULT_REPO_CONFIG: Readonly<RepoConfig> = Object.freeze({
  triggerLabel: 'damascus',
  budgetCycles: 3,
  maxCostUsd: 5,
  requiredSpecSections: ['Summary', 'Acceptance Criteria', 'Test Command', 'Scope', 'Open Questions'],
  testCommand: null,
  reviewWorkflow: 'damascus-review.yml',
  ciTimeoutMinutes: 30,
  mergeStyle: 'merge',
  requireSpecApproval: false,
  // Commands and tool lists are the operator's (src/agent/builders.ts): a repo only picks a builder by name.
  builder: Object.freeze({ name: null, maxTurns: 30, timeoutMinutes: 30 }),
  contextFiles: [],
  allowCatchAllScope: false,
} as RepoConfig);

function defaults(): RepoConfig {
  const d = DEFAULT_REPO_CONFIG;
  return {
    ...d,
    requiredSpecSections: [...d.requiredSpecSections],
    builder: { ...d.builder },
    contextFiles: [...d.contextFiles],
  };
}

/** A validation failure with the dotted key it concerns (for the line lookup). */
class Invalid extends Error {
  constructor(readonly key: string, message: string) {
    super(message);
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function str(key: string, v: unknown, { nonEmpty = true } = {}): string {
  if (typeof v !== 'string' || (nonEmpty && v.trim() === '')) {
    throw new Invalid(key, `\`${key}\` must be a non-empty string (got ${describe(v)})`);
  }
  return v.trim();
}

function posNumber(key: string, v: unknown, { integer }: { integer: boolean }): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && v > 0 && (!integer || Number.isInteger(v));
  if (!ok) throw new Invalid(key, `\`${key}\` must be a positive ${integer ? 'whole number' : 'number'} (got ${describe(v)})`);
  return v as number;
}

function bool(key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new Invalid(key, `\`${key}\` must be true or false (got ${describe(v)})`);
  return v;
}

function strList(key: string, v: unknown, { nonEmptyList = false } = {}): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.trim() === '')) {
    throw new Invalid(key, `\`${key}\` must be a list of non-empty strings (got ${describe(v)})`);
  }
  if (nonEmptyList && v.length === 0) throw new Invalid(key, `\`${key}\` must not be an empty list`);
  return (v as string[]).map((x) => x.trim());
}

/** A duration longer than this is not one: the parser never looks at more of an untrusted value. */
export const MAX_DURATION_CHARS = 64;
/** One "<number><unit>" part, anchored where the previous one ended (sticky): each character is read once. */
const DURATION_PART = /(\d+(?:\.\d+)?)\s*(h|min|m|s)\s*/iy;
const UNIT_MINUTES: Record<string, number> = { h: 60, min: 1, m: 1, s: 1 / 60 };
const UNIT_RANK: Record<string, number> = { h: 0, min: 1, m: 1, s: 2 };

/**
 * Minutes from "45m", "1h", "90s", "1h30m", "1.5 h" (parts in h, m, s order, each at most once), or null.
 * A scanner rather than one regex: `\s*` between optional parts made the old pattern exponential on spaces.
 */
export function parseDurationMinutes(text: string): number | null {
  const s = text.trim();
  if (s === '' || s.length > MAX_DURATION_CHARS) return null;
  let at = 0;
  let rank = -1;
  let total = 0;
  while (at < s.length) {
    DURATION_PART.lastIndex = at;
    const m = DURATION_PART.exec(s);
    if (!m) return null;
    const unit = m[2]!.toLowerCase();
    if (UNIT_RANK[unit]! <= rank) return null;
    rank = UNIT_RANK[unit]!;
    total += Number(m[1]) * UNIT_MINUTES[unit]!;
    at = DURATION_PART.lastIndex;
  }
  return Number.isFinite(total) && total > 0 ? total : null;
}

/** Minutes from a number (minutes) or a duration string (parseDurationMinutes). */
function minutes(key: string, v: unknown): number {
  if (typeof v === 'number') return posNumber(key, v, { integer: false });
  const parsed = typeof v === 'string' ? parseDurationMinutes(v) : null;
  if (parsed !== null) return parsed;
  const shown = typeof v === 'string' && v.length > MAX_DURATION_CHARS ? `${v.slice(0, MAX_DURATION_CHARS)}…` : v;
  throw new Invalid(key, `\`${key}\` must be minutes as a positive number or a duration like "45m" or "1h" (got ${describe(shown)})`);
}

function rejectUnknown(obj: Obj, known: readonly string[], prefix: string): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) {
      throw new Invalid(prefix + k, `unknown key \`${prefix + k}\` (known keys: ${known.map((x) => prefix + x).join(', ')})`);
    }
  }
}

const TOP_KEYS = [
  'trigger_label', 'budget_cycles', 'max_cost_usd', 'required_spec_sections', 'test_command', 'review_workflow',
  'ci_timeout', 'merge_style', 'require_spec_approval', 'builder', 'context_files', 'allow_catch_all_scope',
] as const;
const BUILDER_KEYS = ['name', 'max_turns', 'timeout_minutes'] as const;
/** Keys a repo file may not set: they would let any writer of the repo run commands on the orchestrator. */
const OPERATOR_ONLY_BUILDER_KEYS = ['command', 'allowed_tools', 'env'] as const;
const MERGE_STYLES: readonly MergeStyle[] = ['merge', 'squash', 'rebase'];

function validate(doc: Obj): RepoConfig {
  rejectUnknown(doc, TOP_KEYS, '');
  const c = defaults();
  const has = (k: string): boolean => doc[k] !== undefined;
  if (has('trigger_label')) c.triggerLabel = str('trigger_label', doc.trigger_label);
  if (has('budget_cycles')) c.budgetCycles = posNumber('budget_cycles', doc.budget_cycles, { integer: true });
  if (has('max_cost_usd')) c.maxCostUsd = posNumber('max_cost_usd', doc.max_cost_usd, { integer: false });
  if (has('required_spec_sections')) {
    c.requiredSpecSections = strList('required_spec_sections', doc.required_spec_sections, { nonEmptyList: true });
  }
  // `test_command: null` is allowed: it means "take it from the spec".
  if ('test_command' in doc) c.testCommand = doc.test_command === null ? null : str('test_command', doc.test_command);
  if (has('review_workflow')) {
    const wf = str('review_workflow', doc.review_workflow);
    if (!/^[\w.-]+\.ya?ml$/.test(wf)) {
      throw new Invalid('review_workflow', `\`review_workflow\` must be a workflow file name like "damascus-review.yml" (got ${JSON.stringify(wf)})`);
    }
    c.reviewWorkflow = wf;
  }
  if (has('ci_timeout')) c.ciTimeoutMinutes = minutes('ci_timeout', doc.ci_timeout);
  if (has('merge_style')) {
    const s = doc.merge_style;
    if (typeof s !== 'string' || !MERGE_STYLES.includes(s as MergeStyle)) {
      throw new Invalid('merge_style', `\`merge_style\` must be one of ${MERGE_STYLES.join(', ')} (got ${describe(s)})`);
    }
    c.mergeStyle = s as MergeStyle;
  }
  if (has('require_spec_approval')) c.requireSpecApproval = bool('require_spec_approval', doc.require_spec_approval);
  if (has('allow_catch_all_scope')) c.allowCatchAllScope = bool('allow_catch_all_scope', doc.allow_catch_all_scope);
  if (has('context_files')) c.contextFiles = strList('context_files', doc.context_files);
  // An empty `builder:` (all sub-keys commented out) means the defaults.
  if (has('builder') && doc.builder !== null) {
    const b = doc.builder;
    if (!isObj(b)) throw new Invalid('builder', `\`builder\` must be a mapping (got ${describe(b)})`);
    for (const k of OPERATOR_ONLY_BUILDER_KEYS) {
      if (k in b) {
        throw new Invalid(`builder.${k}`, `\`builder.${k}\` is set by the operator of this Damascus installation, not in the repository; choose one of its builders with \`builder.name\``);
      }
    }
    rejectUnknown(b, BUILDER_KEYS, 'builder.');
    if (b.name !== undefined && b.name !== null) c.builder.name = str('builder.name', b.name);
    if (b.max_turns !== undefined) c.builder.maxTurns = posNumber('builder.max_turns', b.max_turns, { integer: true });
    if (b.timeout_minutes !== undefined) c.builder.timeoutMinutes = posNumber('builder.timeout_minutes', b.timeout_minutes, { integer: false });
  }
  return c;
}

/**
 * The 1-based line of a dotted key ("builder.max_turns") in the YAML text, by a small indentation-aware
 * scan. Good enough for block-style files; null when the key is not found that way (e.g. flow style).
 */
export function findKeyLine(text: string, dottedKey: string): number | null {
  const lines = text.split(/\r?\n/);
  let from = 0;
  let minIndent = 0;
  let found: number | null = null;
  for (const part of dottedKey.split('.')) {
    const keyRe = new RegExp(`^(\\s*)(["']?)${part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\2\\s*:(\\s|$)`);
    found = null;
    for (let i = from; i < lines.length; i++) {
      const line = lines[i] ?? '';
      const m = keyRe.exec(line);
      if (m && (m[1] ?? '').length >= minIndent) {
        found = i;
        minIndent = (m[1] ?? '').length + 1;
        from = i + 1;
        break;
      }
    }
    if (found === null) return null;
  }
  return found === null ? null : found + 1;
}

/** Parse and validate `.gitea/damascus.yml`. Absent or empty text gives the defaults. Never throws. */
export function parseRepoConfig(text: string | null | undefined): RepoConfigResult {
  // js-yaml 5 rejects a document with no content; an empty or all-comment file simply means "defaults".
  const onlyComments = (text ?? '').split(/\r?\n/).every((l) => /^\s*(#.*)?$/.test(l));
  if (text === null || text === undefined || onlyComments) return { ok: true, config: defaults() };
  let doc: unknown;
  try {
    doc = load(text);
  } catch (e) {
    if (e instanceof YAMLException) {
      return { ok: false, error: `YAML syntax error: ${e.reason}`, line: e.mark ? e.mark.line + 1 : null };
    }
    return { ok: false, error: `YAML could not be read: ${(e as Error).message}`, line: null };
  }
  if (doc === null || doc === undefined) return { ok: true, config: defaults() };
  if (!isObj(doc)) return { ok: false, error: `the file must be a mapping of keys to values (got ${describe(doc)})`, line: 1 };
  try {
    return { ok: true, config: validate(doc) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.message, line: findKeyLine(text, e.key) };
    throw e;
  }
}

/** Longest run of backticks in text, so a fence around it cannot be closed early. */
export function fenceFor(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(longest + 1);
}

/** The Markdown comment Damascus posts when the repo's config cannot be used (the item is parked). */
export function renderConfigError(err: { error: string; line: number | null }, path: string = REPO_CONFIG_PATH): string {
  const where = err.line === null ? `\`${path}\`` : `\`${path}\` line ${err.line}`;
  const fence = fenceFor(err.error);
  return [
    `**Damascus cannot use this repository's configuration** (${where}).`,
    '',
    fence,
    err.error,
    fence,
    '',
    `This item is parked until the file is fixed on the default branch; then comment \`/damascus retry\`.`,
  ].join('\n');
}
