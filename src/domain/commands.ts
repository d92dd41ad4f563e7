/**
 * Comment commands (`/damascus retry` …) and the Markdown line classifier shared by commands,
 * answers, gates and marker parsing. Pure. A quote-reply copies other people's text (and the bot's),
 * and code blocks hold pasted logs, so neither may steer anything: only plain lines count.
 */

import type { State } from './states.js';

export const VALID_COMMANDS = ['retry', 'cancel', 'approve', 'status', 'why'] as const;
export type CommandName = (typeof VALID_COMMANDS)[number];

/** Damascus's answer to a command (a `reply.*` outbox event, rendered by the relay). */
export type CommandReply =
  | { kind: 'unknown'; words: string[] }
  | { kind: 'forbidden'; login: string }
  | { kind: 'status'; statusUrl?: string | null }
  | { kind: 'why'; explanation: string | null; from?: State; to?: State; at?: Date | string }
  | {
      kind: 'approved' | 'retried' | 'cancelled';
      login: string;
      resumes?: State /** The build change approved (its diff fingerprint). */;
      fingerprint?: string;
    }
  | { kind: 'not_applicable'; command: CommandName; state: State };

export interface Command {
  name: CommandName;
  /**
   * For `approve` only: the word after it, at most 64 chars (`/damascus approve 3f2a…`: which change or test
   * command is approved); absent when none. Only the first occurrence of a command counts.
   */
  arg?: string;
}

export interface ParsedCommands {
  /** Valid commands, in order of first appearance, each at most once. */
  commands: Command[];
  /** Words after `/damascus` that are not commands ('' for a bare `/damascus`), lower-cased, at most 40 chars. */
  unknown: string[];
}

export interface MarkdownLine {
  text: string;
  /** A block-quote line (`> …`), e.g. from a quote-reply. */
  quoted: boolean;
  /** Inside a fenced code block, fence lines included. */
  inCode: boolean;
}

/** `/damascus` at the start of a line (at most 3 spaces in, as Markdown allows), then an optional word. */
const COMMAND_LINE = /^ {0,3}\/damascus(?:[ \t]+(\S+))?(?:[ \t].*)?$/i;

export function isCommandLine(line: string): boolean {
  return COMMAND_LINE.test(line);
}

export function parseCommands(body: string): ParsedCommands {
  const commands: Command[] = [];
  const unknown: string[] = [];
  for (const line of markdownLines(body)) {
    if (line.quoted || line.inCode) continue;
    const m = COMMAND_LINE.exec(line.text);
    if (!m) continue;
    const word = (m[1] ?? '').toLowerCase();
    if (isCommandName(word)) {
      const arg =
        word === 'approve'
          ? line.text
              .trim()
              .split(/[ \t]+/)[2]
              ?.slice(0, 64)
          : undefined;
      if (!commands.some((c) => c.name === word)) commands.push(arg ? { name: word, arg } : { name: word });
    } else {
      const shown = word.slice(0, 40);
      if (!unknown.includes(shown)) unknown.push(shown);
    }
  }
  return { commands, unknown };
}

export function isCommandName(word: string): word is CommandName {
  return (VALID_COMMANDS as readonly string[]).includes(word);
}

const QUOTE = /^ {0,3}>/;
// `[\s\S]*`, not `.*`: a U+2028 after a long run of backticks made `.*$` retry every split of the run (quadratic).
const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})([\s\S]*)$/;

/**
 * Classify each line of a Markdown text (CommonMark fences: ``` or ~~~, closed by the same
 * character at least as long; an unclosed fence runs to the end). Lazy quote continuation lines
 * count as plain text, since a reply usually follows its quote directly.
 */
export function markdownLines(body: string): MarkdownLine[] {
  return scanMarkdown(body).lines;
}

/** The fence (e.g. "````") left open at the end of the text, or null: lets a renderer close it. */
export function unclosedFence(body: string): string | null {
  return scanMarkdown(body).openFence;
}

function scanMarkdown(body: string): { lines: MarkdownLine[]; openFence: string | null } {
  const lines: MarkdownLine[] = [];
  let fence: string | null = null;
  for (const text of body.split(/\r\n|\r|\n/)) {
    if (fence !== null) {
      const run = /^ {0,3}(`+|~+)[ \t]*$/.exec(text)?.[1];
      if (run && run[0] === fence[0] && run.length >= fence.length) fence = null;
      lines.push({ text, quoted: false, inCode: true });
      continue;
    }
    if (QUOTE.test(text)) {
      lines.push({ text, quoted: true, inCode: false });
      continue;
    }
    const open = FENCE_OPEN.exec(text);
    const run = open?.[1];
    // A backtick fence's info string may not contain a backtick (else it is inline code).
    if (run && !(run[0] === '`' && (open[2] ?? '').includes('`'))) {
      fence = run;
      lines.push({ text, quoted: false, inCode: true });
      continue;
    }
    lines.push({ text, quoted: false, inCode: false });
  }
  return { lines, openFence: fence };
}

/** The text of a quoted line without its `>` markers (nested quotes included). */
export function unquote(line: string): string {
  return line.replace(/^(?: {0,3}> ?)+/, '');
}
