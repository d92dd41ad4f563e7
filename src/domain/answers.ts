/**
 * Which open questions a human comment answers (pure). The caller has already checked that the
 * author may write to the repo and is not the bot.
 *
 * A question is answered by: a quote-reply that contains its tag or reproduces (part of) its text;
 * a mention of its tag (`Q-12`) outside quotes and code; or, when it is the only open question, any
 * comment that names no tag at all. The answer is the comment without quoted and command lines;
 * a comment with nothing left answers nothing.
 */
import { isCommandLine, markdownLines, unquote } from './commands.js';

/** A question a human answered, as the spec and build phases hand it on. */
export interface HumanAnswer {
  question: string;
  answer: string;
  by: string;
}

export interface OpenQuestion {
  id: number;
  /** `Q-<id>` (human_issues.tag). */
  tag: string;
  question: string;
}

export interface Answer {
  id: number;
  text: string;
}

/** A quoted fragment shorter than this is too weak to say which question it reproduces. */
const MIN_QUOTE_CHARS = 12;

export function matchAnswer(body: string, openQuestions: readonly OpenQuestion[]): { answers: Answer[] } {
  const lines = markdownLines(body);
  const text = answerText(body);
  if (text === '' || openQuestions.length === 0) return { answers: [] };

  const quoteBlocks = blocksOf(lines.filter((l) => !l.inCode).map((l) => (l.quoted ? unquote(l.text) : null)));
  const plain = lines
    .filter((l) => !l.quoted && !l.inCode)
    .map((l) => l.text)
    .join('\n');

  const ids = new Set<number>();
  for (const q of openQuestions) {
    const inQuote = quoteBlocks.some((b) => mentionsTag(b, q.tag) || reproduces(b, q.question));
    const inPlain = mentionsTag(plain, q.tag);
    if (inQuote || inPlain) ids.add(q.id);
  }
  // A tag of a question that is not open (e.g. already answered) must not be taken as an answer to another one.
  const anyTagNamed = /(?<![A-Za-z0-9-])Q-\d+(?!\d)/i.test([plain, ...quoteBlocks].join('\n'));
  const only = openQuestions[0];
  if (ids.size === 0 && openQuestions.length === 1 && only && !anyTagNamed) ids.add(only.id);

  return { answers: openQuestions.filter((q) => ids.has(q.id)).map((q) => ({ id: q.id, text })) };
}

/** The comment minus quoted lines and `/damascus` command lines, trimmed. */
export function answerText(body: string): string {
  return markdownLines(body)
    .filter((l) => !l.quoted && (l.inCode || !isCommandLine(l.text)))
    .map((l) => l.text)
    .join('\n')
    .trim();
}

/** Consecutive quoted lines joined into one block each (null marks a non-quoted line). */
function blocksOf(quoted: (string | null)[]): string[] {
  const blocks: string[] = [];
  let cur: string[] = [];
  for (const q of [...quoted, null]) {
    if (q !== null) cur.push(q);
    else if (cur.length > 0) {
      blocks.push(cur.join('\n'));
      cur = [];
    }
  }
  return blocks;
}

function mentionsTag(text: string, tag: string): boolean {
  const escaped = tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![A-Za-z0-9-])${escaped}(?![0-9A-Za-z])`, 'i').test(text);
}

/** The quote holds the whole question, or a fragment of it long enough to be telling. */
function reproduces(quote: string, question: string): boolean {
  const qt = normalize(quote);
  const qn = normalize(question);
  if (qt === '' || qn === '') return false;
  return qt.includes(qn) || (qt.length >= MIN_QUOTE_CHARS && qn.includes(qt));
}

/**
 * Compare text as a reader sees it: a quote-reply may copy rendered text, so Markdown emphasis,
 * the bot's escapes (&lt;, zero-width joiners) and line breaks must not matter.
 */
function normalize(s: string): string {
  return s
    .replace(/\u200d/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/[*_`~#>]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}
