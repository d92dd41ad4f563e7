export interface BuilderCommandOptions {
  promptFile: string;
  /** The directory holding the agent's input files (outside the worktree): the agent may read it. */
  inputDir: string;
  maxTurns: number;
  allowedTools: readonly string[];
  model?: string | undefined;
}

/**
 * Claude Code headless. The prompt on the command line is fixed text naming the prompt file: issue text never
 * reaches argv. `--add-dir` and `--allowedTools` take several values, so each is followed by another option.
 */
export function defaultBuilderCommand(o: BuilderCommandOptions): string[] {
  const argv = [
    'claude',
    '-p',
    `Read ${o.promptFile} and carry out the task it describes.`,
    '--output-format', 'json',
    '--permission-mode', 'dontAsk',
    '--add-dir', o.inputDir,
  ];
  if (o.allowedTools.length > 0) argv.push('--allowedTools', ...o.allowedTools);
  argv.push('--max-turns', String(o.maxTurns));
  if (o.model) argv.push('--model', o.model);
  return argv;
}

/**
 * DAMASCUS_BUILDER_COMMAND as argv: a JSON array of strings, or words split on whitespace with simple
 * single/double quoting (no shell: no variables, globs or pipes).
 */
export function parseBuilderCommand(text: string): string[] {
  const t = text.trim();
  if (t.startsWith('[')) {
    const parsed: unknown = JSON.parse(t);
    if (!Array.isArray(parsed) || parsed.length === 0 || parsed.some((x) => typeof x !== 'string')) {
      throw new Error('DAMASCUS_BUILDER_COMMAND as JSON must be a non-empty array of strings');
    }
    return parsed as string[];
  }
  const argv: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let inWord = false;
  for (const ch of t) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) argv.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error('DAMASCUS_BUILDER_COMMAND has an unclosed quote');
  if (inWord) argv.push(cur);
  if (argv.length === 0) throw new Error('DAMASCUS_BUILDER_COMMAND is empty');
  return argv;
}

/** Replace {promptFile}, {inputDir}, {maxTurns}, {model} placeholders in a configured command's arguments. */
export function expandBuilderCommand(argv: readonly string[], vars: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{(\w+)\}/g, (m, name: string) => vars[name] ?? m));
}
