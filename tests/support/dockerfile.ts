import { readFileSync } from 'node:fs';

/** One instruction of a Dockerfile: its keyword (upper case), its arguments as written, and its exec (JSON) form. */
export interface DockerInstruction {
  keyword: string;
  args: string;
  /** The arguments as a JSON array when written in exec form (`["a", "b"]`), else null. */
  exec: string[] | null;
  /** The 1-based line on which the instruction starts. */
  line: number;
}

/** A build stage: its FROM and the instructions up to the next FROM. */
export interface DockerStage {
  image: string;
  name: string | null;
  instructions: DockerInstruction[];
}

/**
 * The instructions of a Dockerfile, per its reference: comment lines (and parser directives) dropped,
 * a line ending in the escape character `\` continued on the next, comment lines inside a
 * continuation skipped, the keyword case-insensitive.
 */
export function parseDockerfile(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line)) return;
    if (pending === '' && line.trim() === '') return;
    if (pending === '') start = i + 1;
    const continued = /\\\s*$/.test(line);
    pending += continued ? line.replace(/\\\s*$/, '') : line;
    if (continued) return;
    out.push(instruction(pending, start));
    pending = '';
  });
  if (pending.trim() !== '') out.push(instruction(pending, start));
  return out;
}

/** The commands of a shell-form RUN, split at `&&`, `;` and `||`, each as its words (a leading then/else/do dropped). */
export function shellCommands(args: string): string[][] {
  return args
    .split(/&&|\|\||;/)
    .map((c) =>
      c
        .trim()
        .split(/\s+/)
        .filter((w) => w !== ''),
    )
    .map((words) => (['then', 'else', 'do'].includes(words[0] ?? '') ? words.slice(1) : words))
    .filter((c) => c.length > 0);
}

function instruction(text: string, line: number): DockerInstruction {
  const m = /^\s*(\S+)\s*(.*?)\s*$/s.exec(text)!;
  const args = m[2]!;
  let exec: string[] | null = null;
  if (args.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(args);
      if (Array.isArray(parsed) && parsed.every((a) => typeof a === 'string')) exec = parsed;
    } catch {
      exec = null; // not JSON: shell form, as Docker reads it
    }
  }
  return { keyword: m[1]!.toUpperCase(), args, exec, line };
}

/** The build stages, in order (instructions before the first FROM, i.e. global ARGs, belong to none). */
export function stagesOf(instructions: DockerInstruction[]): DockerStage[] {
  const stages: DockerStage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [image, as, name] = ins.args.split(/\s+/);
      stages.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name! : null, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return stages;
}

/** `KEY=value` pairs of an ENV, ARG or LABEL instruction (values unquoted when quoted as a whole). */
export function keyValues(args: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_.-]*)=("([^"]*)"|'([^']*)'|\S*)/g)) pairs[m[1]!] = m[3] ?? m[4] ?? m[2]!;
  return pairs;
}

/** The Dockerfile at `path`, parsed. */
export function readDockerfile(path = 'Dockerfile'): { instructions: DockerInstruction[]; stages: DockerStage[] } {
  const instructions = parseDockerfile(readFileSync(path, 'utf8'));
  return { instructions, stages: stagesOf(instructions) };
}
