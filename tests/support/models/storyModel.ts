import { join } from 'node:path';
import { cwdFromRequest, startAnthropicServer, type AnthropicServer } from './anthropic.js';
import type { ModelAction, ModelRequest } from './script.js';

/** What a story's agent does: the files it writes, and lines it appends to files (read first), relative to its worktree. */
export interface StoryScript {
  writes?: Record<string, string>;
  appends?: Record<string, string>;
}

/** A file's text from Claude Code's Read result ("     1\tline" per line). */
function fromReadResult(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^\s*\d+\t/, ''))
    .join('\n');
}

/**
 * The model behind the real Claude Code in the end-to-end world and the demo: it reads its prompt file first, as a
 * real agent would; then writes the story's files, picking the story's `retry` script when the prompt names a
 * feedback file (a failed review came back), else `first`; then says it is done. The story is the issue number in
 * the branch Claude Code reports in its context ("Current branch: damascus/<n>-…"). Everything follows from the
 * conversation itself, so several stories may build at once.
 */
export class StoryModel {
  server!: AnthropicServer;
  private readonly scripts = new Map<number, { first: StoryScript; retry?: StoryScript }>();
  private readonly runs = new Map<number, string[]>();

  async start(): Promise<void> {
    this.server = await startAnthropicServer((req) => this.answer(req));
  }

  script(issue: number, first: StoryScript, retry?: StoryScript): void {
    this.scripts.set(issue, retry ? { first, retry } : { first });
  }

  /** Which script each of the story's agent runs took ('first' | 'retry'), in order. */
  runsOf(issue: number): string[] {
    return [...(this.runs.get(issue) ?? [])];
  }

  private answer(req: ModelRequest): ModelAction {
    const conversation = JSON.stringify(req.body.messages ?? []);
    const issue = Number(/Current branch: damascus\/(\d+)-/.exec(conversation)?.[1] ?? NaN);
    const story = this.scripts.get(issue);
    if (!story) return { text: `No script for story ${issue}: nothing to do.` };
    const results = conversation.match(/"type":"tool_result"/g)?.length ?? 0;
    if (results === 0) {
      const prompt = /Read (\S+) and carry out the task it describes/.exec(conversation)?.[1];
      return prompt ? { read: prompt } : { text: 'I was given no prompt file.' };
    }
    const retry = story.retry !== undefined && conversation.includes('feedback.md');
    const script = retry ? story.retry! : story.first;
    if (results === 1) this.runs.set(issue, [...(this.runs.get(issue) ?? []), retry ? 'retry' : 'first']);
    // Each append is a Read of the file, then a Write of what it read plus the line.
    const steps: ({ write: [string, string] } | { read: string } | { append: [string, string] })[] = [
      ...Object.entries(script.writes ?? {}).map(([p, c]) => ({ write: [p, c] as [string, string] })),
      ...Object.entries(script.appends ?? {}).flatMap(([p, line]) => [{ read: p }, { append: [p, line] as [string, string] }]),
    ];
    const step = steps[results - 1];
    if (!step) return { text: `Done: changed ${[...Object.keys(script.writes ?? {}), ...Object.keys(script.appends ?? {})].join(', ')}.` };
    if ('write' in step) return { write: { path: step.write[0], content: step.write[1] } };
    const cwd = cwdFromRequest(req) ?? '';
    if ('read' in step) return { read: join(cwd, step.read) };
    const lastResult = [...(req.body.messages as { content: unknown }[])]
      .reverse()
      .flatMap((m) => (Array.isArray(m.content) ? m.content : []))
      .find((b: { type?: string }) => b.type === 'tool_result') as { content?: unknown } | undefined;
    const read = typeof lastResult?.content === 'string' ? fromReadResult(lastResult.content) : '';
    return { write: { path: step.append[0], content: `${read.endsWith('\n') || read === '' ? read : `${read}\n`}${step.append[1]}` } };
  }
}
