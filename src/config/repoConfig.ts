import * as v from 'valibot';
import { type ErrorCode, isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { check, type Message, strictMapping } from '../shared/schema.js';

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

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** "`key` must be <what> (got <the value>)", the shape of most of this file's messages. */
const needs =
  (what: string): Message =>
  (issue) =>
    `\`{key}\` must be ${what} (got ${describe(issue.input)})`;

const TRIMMED = v.pipe(
  v.string(),
  v.check((s) => s.trim() !== ''),
  v.trim(),
);
const TEXT = v.message(TRIMMED, needs('a non-empty string'));
const WHOLE = v.message(v.pipe(v.number(), v.integer(), v.gtValue(0)), needs('a positive whole number'));
const AMOUNT = v.message(v.pipe(v.number(), v.finite(), v.gtValue(0)), needs('a positive number'));
const FLAG = v.message(v.boolean(), needs('true or false'));
const TEXTS = v.array(
  v.message(TRIMMED, (issue) => `\`{key}\` must be a list of non-empty strings (one is ${describe(issue.input)})`),
  needs('a list of non-empty strings'),
);

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

/** Minutes from a number (minutes) or a duration string (parseDurationMinutes), or null. */
function minutesOf(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v : null;
  return typeof v === 'string' ? parseDurationMinutes(v) : null;
}

const MINUTES = v.pipe(
  v.custom<number | string>(
    (x) => minutesOf(x) !== null,
    ({ input }) => {
      const shown = typeof input === 'string' && input.length > MAX_DURATION_CHARS ? `${input.slice(0, MAX_DURATION_CHARS)}…` : input;
      return `\`{key}\` must be minutes as a positive number or a duration like "45m" or "1h" (got ${describe(shown)})`;
    },
  ),
  v.transform((x) => minutesOf(x)!),
);

const MERGE_STYLES: readonly MergeStyle[] = ['merge', 'squash', 'rebase'];

/** Keys a repo file may not set: they would let any writer of the repo run commands on the orchestrator. */
const OPERATOR_ONLY = v.optional(
  v.never('`{key}` is set by the operator of this Damascus installation, not in the repository; choose one of its builders with `builder.name`'),
);
const BUILDER_ENTRIES = {
  name: v.optional(v.nullable(TEXT)),
  max_turns: v.optional(WHOLE),
  timeout_minutes: v.optional(AMOUNT),
};
const BUILDER = strictMapping(
  // The operator's keys first: a file that sets one hears that, whatever else is wrong with it.
  { command: OPERATOR_ONLY, allowed_tools: OPERATOR_ONLY, env: OPERATOR_ONLY, ...BUILDER_ENTRIES },
  {
    notMapping: needs('a mapping'),
    unknownKey: `unknown key \`{key}\` (known keys: ${Object.keys(BUILDER_ENTRIES)
      .map((k) => `builder.${k}`)
      .join(', ')})`,
  },
);

const FILE_ENTRIES = {
  budget_cycles: v.optional(WHOLE),
  max_cost_usd: v.optional(AMOUNT),
  required_spec_sections: v.optional(v.pipe(TEXTS, v.nonEmpty('`{key}` must not be an empty list'))),
  // `test_command: null` is allowed: it means "take it from the spec".
  test_command: v.optional(v.nullable(TEXT)),
  review_workflow: v.optional(
    v.pipe(
      TEXT,
      v.regex(/^[\w.-]+\.ya?ml$/, ({ input }) => `\`{key}\` must be a workflow file name like "damascus-review.yml" (got ${JSON.stringify(input)})`),
    ),
  ),
  ci_timeout: v.optional(MINUTES),
  merge_style: v.optional(v.picklist(MERGE_STYLES, needs(`one of ${MERGE_STYLES.join(', ')}`))),
  require_spec_approval: v.optional(FLAG),
  // An empty `builder:` (all sub-keys commented out) means the defaults.
  builder: v.optional(v.nullable(BUILDER)),
  context_files: v.optional(TEXTS),
  allow_catch_all_scope: v.optional(FLAG),
};
const REPO_FILE = strictMapping(FILE_ENTRIES, {
  notMapping: (issue) => `the file must be a mapping of keys to values (got ${describe(issue.input)})`,
  unknownKey: `unknown key \`{key}\` (known keys: ${Object.keys(FILE_ENTRIES).join(', ')})`,
});

function toConfig(file: v.InferOutput<typeof REPO_FILE>): RepoConfig {
  const d = defaults();
  return {
    budgetCycles: file.budget_cycles ?? d.budgetCycles,
    maxCostUsd: file.max_cost_usd ?? d.maxCostUsd,
    requiredSpecSections: file.required_spec_sections ?? d.requiredSpecSections,
    testCommand: file.test_command ?? d.testCommand,
    reviewWorkflow: file.review_workflow ?? d.reviewWorkflow,
    ciTimeoutMinutes: file.ci_timeout ?? d.ciTimeoutMinutes,
    mergeStyle: file.merge_style ?? d.mergeStyle,
    requireSpecApproval: file.require_spec_approval ?? d.requireSpecApproval,
    builder: {
      name: file.builder?.name ?? d.builder.name,
      maxTurns: file.builder?.max_turns ?? d.builder.maxTurns,
      timeoutMinutes: file.builder?.timeout_minutes ?? d.builder.timeoutMinutes,
    },
    contextFiles: file.context_files ?? d.contextFiles,
    allowCatchAllScope: file.allow_catch_all_scope ?? d.allowCatchAllScope,
  };
}

/** The 1-based line of a dotted key ("builder.max_turns") in the YAML text, by the parser's own positions; null when absent. */
export function findKeyLine(text: string, dottedKey: string): number | null {
  const lineCounter = new LineCounter();
  let node: unknown = parseDocument(text, { lineCounter }).contents;
  let line: number | null = null;
  for (const part of dottedKey.split('.')) {
    const pair = isMap(node) ? node.items.find((p) => isScalar(p.key) && String(p.key.value) === part) : undefined;
    const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
    if (!pair || !range) return null;
    line = lineCounter.linePos(range[0]).line;
    node = pair.value;
  }
  return line;
}

/** Our words for the parser's errors whose own words speak to a programmer. */
const SYNTAX_REASONS: Partial<Record<ErrorCode, string>> = {
  DUPLICATE_KEY: 'duplicated mapping key',
  MULTIPLE_DOCS: 'the file holds more than one YAML document (a second `---`)',
};

/** Parse and validate `.gitea/damascus.yml`. Absent, empty or comment-only text gives the defaults. Never throws. */
export function parseRepoConfig(text: string | null | undefined): RepoConfigResult {
  if (text === null || text === undefined) return { ok: true, config: defaults() };
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const [syntax] = doc.errors;
  if (syntax) {
    const reason = SYNTAX_REASONS[syntax.code] ?? syntax.message;
    return { ok: false, error: `YAML syntax error: ${reason}`, line: lineCounter.linePos(syntax.pos[0]).line };
  }
  let content: unknown;
  try {
    content = doc.toJS();
  } catch (e) {
    return { ok: false, error: `YAML could not be read: ${(e as Error).message}`, line: null };
  }
  if (content === null || content === undefined) return { ok: true, config: defaults() };
  const checked = check(REPO_FILE, content);
  if (checked.ok) return { ok: true, config: toConfig(checked.value) };
  return { ok: false, error: checked.error, line: checked.key === '' ? 1 : findKeyLine(text, checked.key) };
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
