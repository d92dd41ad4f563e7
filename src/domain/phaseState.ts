/**
 * The phase state: what the phases and the store remember about an item between runs (work_items.details,
 * JSONB). Every key is declared here with its type; a row is parsed once where it leaves the database (the
 * operations that read work_items rows) and written through a typed patch. Plain data and type guards, no I/O.
 *
 * Declared as type aliases (not interfaces) so a value passes to `sql.json` as JSON without a cast.
 */
import { isState, isVerdict, type State, type Verdict } from './states.js';

/** The review run dispatched for a head: its nonce binds the Action's result to this dispatch (storeReviewResult). */
export type ReviewDispatch = {
  sha: string;
  /** When Gitea took the dispatch (ms since the epoch); 0 until it did. */
  at: number;
  count: number;
  /** The nonce in the run's title (`run-name`): how a dispatch whose answer was lost is found among the runs. */
  nonce?: string;
  runId?: number | null;
  runUrl?: string | null;
};

/** A writer's `/damascus approve` of a guarded change (src/db/ops/recordChangeApproval.ts). */
export type ChangeApproval = { fingerprint: string; by: string; at: string };

/** The latest transition, as recordVerdict wrote it (shown by status, `/damascus why` and the dashboard). */
export type LastTransition = { verdict: Verdict; from: State; to: State; explanation: string };

export type PhaseState = {
  /** spec: the command the review runs (the repo's test_command, else the spec's); null: none. */
  testCommand?: string | null;
  /** spec: the spec's Scope. */
  scope?: string[];
  /** review: the current review dispatch. */
  reviewDispatch?: ReviewDispatch;
  /** review, storeReviewResult: the review run's page. */
  runUrl?: string | null;
  /** storeReviewResult: the newest ci_results id for this item (deferItem wakes for a newer one). */
  lastResultId?: number;
  /** review: looks so far at a PR Gitea is still checking. */
  mergeWaits?: number;
  /** review: the branch conflicts with its base, so the next build starts again from the base; build clears it. */
  rebuildFromBase?: boolean | null;
  /** build: the pull request's page. */
  prUrl?: string;
  /** build: the diff fingerprint of every attempt that reached a verdict (a repeat is no progress). */
  buildFingerprints?: string[];
  /** build: the fingerprint of a guarded change that waits for a writer's approval, and the question that asked. */
  pendingApproval?: string | null;
  approvalQuestion?: string | null;
  /** recordChangeApproval: the approval given; build clears it. */
  changeApproval?: ChangeApproval | null;
  /** recordVerdict: the latest transition. */
  lastTransition?: LastTransition;
  /** deferItem: why the item waits, and since when. */
  waiting?: { reason: string; since: string };
  /** The story's issue was deleted: the mirror stops writing to it, and a later label cannot revive it. */
  issueDeleted?: boolean;
};

/** What a phase may set with its verdict or wait: the store's own keys are written only by its operations. */
export type PhaseStatePatch = Omit<PhaseState, 'lastResultId' | 'lastTransition' | 'waiting' | 'issueDeleted' | 'changeApproval'> & {
  /** A phase only clears an approval; a writer gives it (recordChangeApproval). */
  changeApproval?: null;
};

type Guard<T> = (v: unknown) => v is T;

const isString: Guard<string> = (v): v is string => typeof v === 'string';
const isNumber: Guard<number> = (v): v is number => typeof v === 'number' && Number.isFinite(v);
const isBoolean: Guard<boolean> = (v): v is boolean => typeof v === 'boolean';
const isObject = (v: unknown): v is { readonly [key: string]: unknown } => typeof v === 'object' && v !== null && !Array.isArray(v);
const orNull =
  <T>(g: Guard<T>): Guard<T | null> =>
  (v): v is T | null =>
    v === null || g(v);
const optional =
  <T>(g: Guard<T>): Guard<T | undefined> =>
  (v): v is T | undefined =>
    v === undefined || g(v);
const arrayOf =
  <T>(g: Guard<T>): Guard<T[]> =>
  (v): v is T[] =>
    Array.isArray(v) && v.every(g);
const oneOf =
  <T extends string>(is: (s: string) => s is T): Guard<T> =>
  (v): v is T =>
    typeof v === 'string' && is(v);
/** An object with these fields (others are allowed and kept). */
function shape<T>(fields: { [K in keyof T]-?: Guard<T[K]> }): Guard<T> {
  return (v): v is T => isObject(v) && Object.entries(fields).every(([k, g]) => (g as Guard<unknown>)(v[k]));
}

/** Sets `key` on a state from a stored value that fits its type; false (and nothing set) for one that does not. */
type Reader = (value: unknown, into: PhaseState) => boolean;
function key<K extends keyof PhaseState>(k: K, fits: Guard<Exclude<PhaseState[K], undefined>>): Reader {
  return (value, into) => {
    if (!fits(value)) return false;
    into[k] = value;
    return true;
  };
}

/** One guard per key: the whole schema. Kept to plain guards so a schema library can replace it in one place. */
const FIELDS: { [K in keyof PhaseState]-?: Reader } = {
  testCommand: key('testCommand', orNull(isString)),
  scope: key('scope', arrayOf(isString)),
  reviewDispatch: key(
    'reviewDispatch',
    shape<ReviewDispatch>({
      sha: isString,
      at: isNumber,
      count: isNumber,
      nonce: optional(isString),
      runId: optional(orNull(isNumber)),
      runUrl: optional(orNull(isString)),
    }),
  ),
  runUrl: key('runUrl', orNull(isString)),
  lastResultId: key('lastResultId', isNumber),
  mergeWaits: key('mergeWaits', isNumber),
  rebuildFromBase: key('rebuildFromBase', orNull(isBoolean)),
  prUrl: key('prUrl', isString),
  buildFingerprints: key('buildFingerprints', arrayOf(isString)),
  pendingApproval: key('pendingApproval', orNull(isString)),
  approvalQuestion: key('approvalQuestion', orNull(isString)),
  changeApproval: key('changeApproval', orNull(shape<ChangeApproval>({ fingerprint: isString, by: isString, at: isString }))),
  lastTransition: key('lastTransition', shape<LastTransition>({ verdict: oneOf(isVerdict), from: oneOf(isState), to: oneOf(isState), explanation: isString })),
  waiting: key('waiting', shape<{ reason: string; since: string }>({ reason: isString, since: isString })),
  issueDeleted: key('issueDeleted', isBoolean),
};

const isKey = (k: string): k is keyof PhaseState => Object.hasOwn(FIELDS, k);

/**
 * The keys of a stored phase state that fit their declared types, and a line for each that does not.
 * A key this version does not know (an older or a newer one's) is left out, not a problem.
 */
export function readPhaseState(json: unknown): { state: PhaseState; problems: string[] } {
  if (!isObject(json)) return { state: {}, problems: [`it is ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}, not an object`] };
  const state: PhaseState = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (isKey(key) && !FIELDS[key](value, state)) problems.push(`${key} is ${JSON.stringify(value)?.slice(0, 80) ?? String(value)}`);
  }
  return { state, problems };
}

/** A stored phase state with a key that does not fit its type. */
export class PhaseStateError extends Error {
  override name = 'PhaseStateError';
  constructor(
    readonly itemId: number,
    readonly problems: string[],
  ) {
    super(`item ${itemId}'s phase state (work_items.details) does not fit: ${problems.join('; ')}`);
  }
}

/** The phase state of item `itemId`, or a PhaseStateError naming every key that does not fit. */
export function parsePhaseState(json: unknown, itemId: number): PhaseState {
  const { state, problems } = readPhaseState(json);
  if (problems.length > 0) throw new PhaseStateError(itemId, problems);
  return state;
}
