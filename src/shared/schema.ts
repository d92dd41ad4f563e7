/**
 * Our one-line validation messages from valibot issues, for every schema in Damascus (the review result, the
 * repo config, the environment). Shared with the review Action, so it depends on valibot only.
 *
 * A message names the value it is about as `{key}`: valibot writes an issue's message before it knows where
 * the value sat, so the dotted key ("builder.max_turns", "tests.failed") is put in once the parse is over.
 */
import * as v from 'valibot';

export type Message = v.ErrorMessage<v.BaseIssue<unknown>>;

export type Checked<T> = { ok: true; value: T } | { ok: false; key: string; error: string };

/** The key an issue is about: the mapping keys of its path, dotted (a list's positions left out: a message names the list). */
function keyOf(issue: v.BaseIssue<unknown>, root: string): string {
  const keys = (issue.path ?? []).map((p) => p.key).filter((k): k is string => typeof k === 'string');
  return (root === '' ? keys : [root, ...keys]).join('.');
}

/**
 * Validate `input`; a refusal is the first issue's message with its key filled in (`root` names the value
 * itself, as an environment variable's name does). Only the first `{key}` is ours: text after it may quote input.
 */
export function check<S extends v.GenericSchema>(schema: S, input: unknown, root = ''): Checked<v.InferOutput<S>> {
  const result = v.safeParse(schema, input, { abortEarly: true });
  if (result.success) return { ok: true, value: result.output };
  const issue = result.issues[0];
  const key = keyOf(issue, root);
  return { ok: false, key, error: issue.message.replace('{key}', key) };
}

const isMapping = (x: unknown): boolean => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * A mapping with exactly these keys. valibot's strictObject takes an array too, and reports a value that is
 * no object, a missing key and an unknown one through its one message: these are the three, apart.
 */
export function strictMapping<E extends v.ObjectEntries>(entries: E, m: { notMapping: Message; unknownKey: Message; missingKey?: (key: string) => string }) {
  const missingKey = m.missingKey ?? (() => '{key} is required');
  const text = (message: Message, issue: v.BaseIssue<unknown>): string => (typeof message === 'string' ? message : message(issue));
  // The custom check below has refused every non-mapping, so strictObject's own issues are about keys only.
  const keyIssue: Message = (issue) => (issue.expected === 'never' ? text(m.unknownKey, issue) : missingKey(String(issue.path?.at(-1)?.key)));
  const object = v.strictObject(entries, keyIssue);
  return v.pipe(v.custom<v.InferInput<typeof object>>(isMapping, m.notMapping), object);
}
