/** Secret masking for the output tail the Action posts. */

export const MASK = '***';
/** Env var names that mark their value as a secret (masked in the tail, and kept from the test command). */
export const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL/i;
const MIN_ENV_SECRET_LENGTH = 6;
/** Shorter explicit secrets would mask ordinary text everywhere. */
const MIN_INPUT_SECRET_LENGTH = 4;

/**
 * Values to mask: the explicit secrets (the `token` and `gitea-token` inputs) and every env var whose
 * name says it holds a secret. Longest first, so a secret that contains another is masked whole.
 */
export function collectSecrets(explicit: readonly string[], env: Record<string, string | undefined>): string[] {
  const found = new Set<string>();
  for (const value of explicit) if (value.length >= MIN_INPUT_SECRET_LENGTH) found.add(value);
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value.length >= MIN_ENV_SECRET_LENGTH && SECRET_NAME.test(name)) found.add(value);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

function occurrences(haystack: Buffer, needle: Buffer): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) {
    spans.push([at, at + needle.length]);
  }
  return spans;
}

/**
 * Mask `secrets` in `raw` (the end of a longer output) and keep at most `limit` bytes of it.
 * `raw` should hold `limit` plus the longest secret's length, so a secret that straddles the cut is
 * seen whole and dropped whole: no fragment of a secret survives the cut.
 * Returns UTF-8 text that starts on a character boundary.
 */
export function maskTail(raw: Buffer, secrets: readonly string[], limit: number): string {
  const needles = secrets.filter((s) => s.length > 0).map((s) => Buffer.from(s, 'utf8'));
  const spans = needles.flatMap((n) => occurrences(raw, n));
  let cut = Math.max(0, raw.length - limit);
  // Move the cut past any secret it would split (repeat: overlapping secrets can chain).
  for (let moved = true; moved; ) {
    moved = false;
    for (const [start, end] of spans) {
      if (start < cut && end > cut) {
        cut = end;
        moved = true;
      }
    }
  }
  // Skip UTF-8 continuation bytes so the text does not start with half a character.
  while (cut < raw.length && (raw[cut]! & 0xc0) === 0x80) cut++;
  let text = raw.subarray(cut).toString('utf8');
  for (const secret of secrets) if (secret.length > 0) text = text.split(secret).join(MASK);
  return text;
}
