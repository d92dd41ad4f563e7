/**
 * Field-by-field comparison of a captured Gitea answer or payload with the simulator's: the same keys at every
 * level, the same JSON type wherever both have a value. A `null` on one side is a state the two worlds need not
 * share (no milestone here, one there) — except against an empty list: Go writes a nil slice as `null` and an
 * empty one as `[]`, and code that maps over one breaks on the other, so that difference counts.
 */

type Kind = 'null' | 'array' | 'object' | 'string' | 'number' | 'boolean';

const kindOf = (v: unknown): Kind => (v === null || v === undefined ? 'null' : Array.isArray(v) ? 'array' : (typeof v as Kind));

/** Every difference, one line each (`$.issue.labels[0].exclusive: missing in the simulator`); [] when they agree. */
export function shapeDifferences(gitea: unknown, simulator: unknown, path = '$'): string[] {
  const g = kindOf(gitea);
  const s = kindOf(simulator);
  if (g === 'null' || s === 'null') {
    const emptyList = (v: unknown) => Array.isArray(v) && v.length === 0;
    if (g === 'null' && emptyList(simulator)) return [`${path}: Gitea null, simulator []`];
    if (s === 'null' && emptyList(gitea)) return [`${path}: Gitea [], simulator null`];
    return [];
  }
  if (g !== s) return [`${path}: Gitea ${g}, simulator ${s}`];
  if (g === 'array') {
    const ga = gitea as unknown[];
    const sa = simulator as unknown[];
    if (ga.length === 0 || sa.length === 0) return [];
    // Each of the simulator's elements against Gitea's first (the lists Damascus reads hold one struct type).
    return sa.flatMap((x, i) => shapeDifferences(ga[Math.min(i, ga.length - 1)], x, `${path}[${i}]`)).filter((d, i, all) => all.indexOf(d) === i);
  }
  if (g === 'object') {
    const go = gitea as Record<string, unknown>;
    const so = simulator as Record<string, unknown>;
    const out: string[] = [];
    for (const k of Object.keys(go)) if (!(k in so)) out.push(`${path}.${k}: missing in the simulator`);
    for (const k of Object.keys(so)) if (!(k in go)) out.push(`${path}.${k}: not in Gitea's answer`);
    for (const k of Object.keys(go)) if (k in so) out.push(...shapeDifferences(go[k], so[k], `${path}.${k}`));
    return out;
  }
  return [];
}
