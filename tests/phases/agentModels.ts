import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Loop } from './harness.js';
import { ROOT } from '../support/cli.js';
import { startAnthropicServer } from '../support/models/anthropic.js';
import { chatHandler, chatScript } from '../support/models/openaiChat.js';
import { responsesHandler, startResponsesServer } from '../support/models/openaiResponses.js';
import { startModelServer } from '../support/models/script.js';
import type { ModelAction, ModelRequest, ModelServer } from '../support/models/script.js';

/** The project's own installs of the three CLIs (npm ci puts them there). */
export const NODE_BIN = join(ROOT, 'node_modules', '.bin');

export type RealBuilder = 'claude-code' | 'codex' | 'opencode';

/** The model credential each builder gets in these tests: secret-looking, so it must never show anywhere. */
export const AGENT_KEYS: Record<RealBuilder, string> = {
  'claude-code': 'sk-ant-api03-scripted-model-key-0123456789',
  codex: 'sk-proj-scripted-codex-key-0123456789',
  opencode: 'sk-scripted-opencode-key-0123456789',
};

type Step = ModelAction | ((req: ModelRequest) => ModelAction);

/**
 * A scripted model for a real CLI: the API that CLI speaks, scripted per agent run. A request with no tool result
 * in it is a run's first turn and starts the next script of `runs`; each later turn takes that script's next action
 * (when it runs out, the model says it is done). `fail` answers every request while set (retries included), so a
 * test of API failures does not depend on how often the CLI retries. `env` is what the operator would set.
 */
export interface AgentModel {
  server: ModelServer;
  env: Record<string, string>;
  runs: Step[][];
  fail: ModelAction | null;
  /** On the OpenAI-compatible endpoint: what a request without tools gets (the spec phase's LLM call), when set. */
  llm: ((req: ModelRequest) => ModelAction) | null;
  /** Agent turns answered so far (side requests not counted). */
  turns: ModelRequest[];
}

/** Whether a request carries a tool's result: in Anthropic's, OpenAI's Responses or Chat Completions shape. */
export function hasToolResults(req: ModelRequest): boolean {
  const conversation = JSON.stringify(req.body.messages ?? req.body.input ?? []);
  return /"type":"tool_result"|"type":"function_call_output"|"type":"custom_tool_call_output"|"role":"tool"/.test(conversation);
}

/** Start the scripted model for `builder`; `into` (filled in place) lets a caller hold the object before it starts. */
export async function startAgentModel(builder: RealBuilder, into: Partial<AgentModel> = {}): Promise<AgentModel> {
  const model: Omit<AgentModel, 'server' | 'env'> = Object.assign(into, { runs: [], fail: null, llm: null, turns: [] });
  let current: Step[] = [];
  const next = (req: ModelRequest): ModelAction => {
    model.turns.push(req);
    if (model.fail) return model.fail;
    if (!hasToolResults(req)) current = model.runs.shift() ?? [];
    const a = current.shift() ?? { text: 'Done: the task is carried out.' };
    return typeof a === 'function' ? a(req) : a;
  };
  const path = `${NODE_BIN}:${process.env.PATH ?? ''}`;
  if (builder === 'claude-code') {
    const server = await startAnthropicServer(next);
    // Claude Code prices its own tokens by model: a model it knows, so its total_cost_usd is a real figure.
    return Object.assign(model, {
      server,
      env: { PATH: path, ANTHROPIC_BASE_URL: server.url, ANTHROPIC_API_KEY: AGENT_KEYS[builder], DAMASCUS_CLAUDE_MAX_RETRIES: '0' },
    });
  }
  if (builder === 'codex') {
    const server = await startResponsesServer(next);
    // gpt-4.1 is in Damascus's price table: Codex reports tokens, never money, so the cost is estimated from them.
    return Object.assign(model, {
      server,
      env: {
        PATH: path,
        OPENAI_BASE_URL: `${server.url}/v1`,
        OPENAI_API_KEY: AGENT_KEYS[builder],
        DAMASCUS_CODEX_MODEL: 'gpt-4.1',
        DAMASCUS_CODEX_MAX_RETRIES: '0',
      },
    });
  }
  // opencode: one OpenAI-compatible endpoint (as Ollama, vLLM or LiteLLM is) with Chat Completions and Responses,
  // which can serve the spec phase too. A model Damascus has no price for: its cost is unknown, never zero.
  const server = await startModelServer(
    { 'POST /v1/chat/completions': chatHandler, 'POST /v1/responses': responsesHandler },
    chatScript((req) => (model.llm && !Array.isArray(req.body.tools) ? model.llm(req) : next(req))),
  );
  return Object.assign(model, {
    server,
    env: { PATH: path, OPENAI_BASE_URL: `${server.url}/v1`, OPENAI_API_KEY: AGENT_KEYS[builder], DAMASCUS_OPENCODE_MODEL: 'qwen2.5-coder:32b' },
  });
}

/** Set `env` in this process (the build phase reads the operator's credentials from it) and return an undo. */
export function useEnv(env: Record<string, string>): () => void {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** git on the simulated Gitea's repository (acme/widgets). */
export const repoGit = (loop: Loop, ...args: string[]): string =>
  execFileSync('git', ['--git-dir', loop.sim.repoPath('acme', 'widgets'), ...args], { encoding: 'utf8' });

/** An item's verdicts, oldest first, as `phase:verdict→state` with their reasons. */
export async function verdictSteps(loop: Loop, id: number): Promise<{ step: string; reason: string }[]> {
  const rows = await loop.db.sql`SELECT phase, verdict, to_state, reason FROM verdicts WHERE item_id = ${id} ORDER BY id`;
  return rows.map((v) => ({ step: `${v.phase}:${v.verdict}→${v.toState}`, reason: v.reason as string }));
}

/**
 * A Loop whose builder is `builder`'s real CLI against its scripted model, for one test file: started before its
 * tests (the operator's credentials set in this process, `loopEnv` added to the settings), stopped after them, and
 * each test's unfinished story and model script cleared after it. `model` is filled in when the file starts.
 */
export function realAgentLoop(builder: RealBuilder, loopEnv: (model: AgentModel) => Record<string, string> = () => ({})): { loop: Loop; model: AgentModel } {
  const loop = new Loop();
  const model = {} as AgentModel;
  let undoEnv = (): void => {};
  beforeAll(async () => {
    await startAgentModel(builder, model);
    undoEnv = useEnv(model.env);
    await loop.start({}, { DAMASCUS_BUILDER: builder, ...loopEnv(model) });
  });
  afterAll(async () => {
    await loop.stop();
    await model.server.close();
    undoEnv();
  });
  afterEach(async () => {
    await loop.db.sql`UPDATE work_items SET state = 'cancelled' WHERE state IN ('spec', 'build', 'review')`;
    model.runs = [];
    model.fail = null;
  });
  return { loop, model };
}
