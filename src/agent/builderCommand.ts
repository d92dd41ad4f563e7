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
