/**
 * Dependency gates from an issue body (pure): "Depends on #12", "depends on owner/repo#5",
 * "Depends on: #3, #4 and #5". Each becomes a gate that holds the item until that item is done.
 * Quoted lines and code blocks are ignored (they quote other issues), duplicates are dropped, and
 * an issue never depends on itself.
 */
import { markdownLines } from './commands.js';

export interface IssueKey {
  owner: string;
  name: string;
  number: number;
}

export interface ThisIssue {
  owner: string;
  name: string;
  /** When given, a reference to this very issue is dropped. */
  number?: number;
}

/**
 * Every quantifier below is followed by something it cannot match, so each split is unique and matching is
 * linear: the old `\s*:?\s*` and `\s*(?:,|and)?\s*` let spaces go to either side, quadratic in a run of spaces.
 */
/** Gitea owner / repo names: letters, digits, '-', '_', '.'. */
const REF = String.raw`(?:[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+)?#\d+(?![\w#])`;
const LIST_SEP = String.raw`\s*(?:(?:,|;|&|\band\b)\s*)?`;
const PHRASE = new RegExp(String.raw`\bdepends[\s-]+on\b\s*(?::\s*)?(${REF}(?:${LIST_SEP}${REF})*)`, 'gi');
const ONE_REF = /(?:([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+))?#(\d+)/g;
/** An issue body longer than a webhook can carry is not read past this (the parse stays linear anyway). */
export const MAX_DEPENDENCY_TEXT = 1024 * 1024;

export function parseDependencies(body: string, self: ThisIssue): IssueKey[] {
  const out: IssueKey[] = [];
  const seen = new Set<string>();
  const selfKey = self.number === undefined ? null : keyOf({ owner: self.owner, name: self.name, number: self.number });
  for (const line of markdownLines(body.slice(0, MAX_DEPENDENCY_TEXT))) {
    if (line.quoted || line.inCode) continue;
    for (const phrase of line.text.matchAll(PHRASE)) {
      for (const ref of (phrase[1] ?? '').matchAll(ONE_REF)) {
        const number = Number(ref[3]);
        if (!Number.isSafeInteger(number) || number < 1) continue;
        const dep: IssueKey = { owner: ref[1] ?? self.owner, name: ref[2] ?? self.name, number };
        const k = keyOf(dep);
        if (k === selfKey || seen.has(k)) continue;
        seen.add(k);
        out.push(dep);
      }
    }
  }
  return out;
}

/** Gitea owner and repo names are case-insensitive. */
function keyOf(k: IssueKey): string {
  return `${k.owner.toLowerCase()}/${k.name.toLowerCase()}#${k.number}`;
}
