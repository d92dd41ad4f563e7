/** A JSON object, as a CLI printed it. */
export type Json = Record<string, unknown>;

/** `v` when it is a JSON object (not an array, not null), else null. */
export function jsonObject(v: unknown): Json | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null;
}

/**
 * One line of a CLI's output as a JSON object, or null when it is anything else (text, a cut-off line, an array).
 * The output is untrusted: nothing it prints throws here.
 */
export function jsonObjectLine(text: string): Json | null {
  const t = text.trim();
  if (!t.startsWith('{')) return null;
  try {
    return jsonObject(JSON.parse(t));
  } catch {
    return null;
  }
}

/** `v` when it is a finite number, else null. */
export function finiteNumber(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
