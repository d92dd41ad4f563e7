import { startAnthropicServer, type AnthropicServer } from './anthropic.js';
import type { ModelAction, ModelRequest } from './script.js';

/** What a story's agent does: the files it writes (relative to its worktree). */
export interface StoryScript {
  writes: Record<string, string>;
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
    const writes = Object.entries((retry ? story.retry! : story.first).writes);
    if (results === 1) this.runs.set(issue, [...(this.runs.get(issue) ?? []), retry ? 'retry' : 'first']);
    const next = writes[results - 1];
    return next ? { write: { path: next[0], content: next[1] } } : { text: `Done: wrote ${writes.map(([p]) => p).join(', ')}.` };
  }
}
