import { checkSpec, isCatchAllScope, isInScope, meansNone, parseSpec, sectionBody, specSummary, testCommandSha256 } from '../../src/domain/spec.js';
import { DEFAULT_REPO_CONFIG } from '../../src/config/repoConfig.js';

const REQUIRED = DEFAULT_REPO_CONFIG.requiredSpecSections;

function spec(parts: Partial<Record<'summary' | 'ac' | 'test' | 'scope' | 'questions', string | null>> = {}): string {
  const p = {
    summary: 'Add a greeting endpoint.',
    ac: '- AC-1: GET /hello answers "hi"\n- AC-2: it is logged',
    test: '```sh\nnpm test\n```',
    scope: '- `src/hello.ts`\n- `tests/` — new tests',
    questions: 'None.',
    ...parts,
  };
  const out = ['# Spec: greeting'];
  if (p.summary !== null) out.push('## Summary', p.summary);
  if (p.ac !== null) out.push('## Acceptance Criteria', p.ac);
  if (p.test !== null) out.push('## Test Command', p.test);
  if (p.scope !== null) out.push('## Scope', p.scope);
  if (p.questions !== null) out.push('## Open Questions', p.questions);
  return out.join('\n\n');
}

describe('parseSpec', () => {
  test('reads sections, criteria, command, scope', () => {
    const s = parseSpec(spec());
    expect(sectionBody(s.sections, 'summary')).toBe('Add a greeting endpoint.');
    expect(s.acceptanceCriteria).toEqual([
      { id: 'AC-1', text: 'GET /hello answers "hi"' },
      { id: 'AC-2', text: 'it is logged' },
    ]);
    expect(s.testCommand).toBe('npm test');
    expect(s.scope).toEqual(['src/hello.ts', 'tests/']);
    expect(s.openQuestions).toEqual([]);
    expect(s.problems).toEqual([]);
  });

  test('headings match case-insensitively and tolerate numbering, bold and colons', () => {
    const s = parseSpec('# 1. SUMMARY:\nx\n## **acceptance criteria**\n1. **AC-1** — works\n   across lines\n');
    expect(sectionBody(s.sections, 'Summary')).toBe('x');
    expect(s.acceptanceCriteria).toEqual([{ id: 'AC-1', text: 'works across lines' }]);
  });

  test('headings inside code fences and ### subheadings stay in their section', () => {
    const s = parseSpec('## Summary\n```md\n## Scope\n```\n### Detail\nmore\n## Scope\n- a.ts\n');
    expect(sectionBody(s.sections, 'Summary')).toBe('```md\n## Scope\n```\n### Detail\nmore');
    expect(s.scope).toEqual(['a.ts']);
  });

  test('test command: none, several or multi-line blocks are problems and give null', () => {
    expect(parseSpec(spec({ test: 'run `npm test`' }))).toMatchObject({ testCommand: null, problems: [expect.stringMatching(/no fenced code block/)] });
    expect(parseSpec(spec({ test: '```\nnpm ci\n```\n\n```\nnpm test\n```' }))).toMatchObject({
      testCommand: null,
      problems: [expect.stringMatching(/exactly one .*found 2/)],
    });
    expect(parseSpec(spec({ test: '```\nnpm ci\nnpm test\n```' })).problems[0]).toMatch(/single command line/);
    expect(parseSpec(spec({ test: '```\n\n```' })).problems[0]).toMatch(/empty/);
    expect(parseSpec(spec({ test: '~~~bash\n  npm run test:unit -- --ci  \n~~~' })).testCommand).toBe('npm run test:unit -- --ci');
  });

  test('open questions: list items, none-markers, prose', () => {
    for (const none of ['None', 'none.', '-', 'N/A', '*None.*', 'No open questions.', '- None']) {
      expect(parseSpec(spec({ questions: none })).openQuestions).toEqual([]);
    }
    expect(parseSpec(spec({ questions: '- Which port?\n- Should it be public?\n- n/a' })).openQuestions).toEqual(['Which port?', 'Should it be public?']);
    expect(parseSpec(spec({ questions: 'Which port should it use?' })).openQuestions).toEqual(['Which port should it use?']);
  });

  test('scope takes backticked paths, else the first word', () => {
    expect(parseSpec(spec({ scope: '- `src/a.ts` and `src/b/`\n- ./docs/x.md (update)\n* lib/**' })).scope).toEqual([
      'src/a.ts',
      'src/b/',
      'docs/x.md',
      'lib/**',
    ]);
  });
});

describe('checkSpec', () => {
  test('a complete spec passes', () => {
    const r = checkSpec(spec(), REQUIRED);
    expect(r).toMatchObject({ verdict: 'pass', problems: [], questions: [] });
    expect(r.spec.testCommand).toBe('npm test');
  });

  test('a missing or empty required section is spec_wrong, listing each problem', () => {
    const r = checkSpec(spec({ scope: null, summary: '' }), REQUIRED);
    expect(r.verdict).toBe('spec_wrong');
    expect(r.problems).toEqual(expect.arrayContaining(['missing required section "Scope"', 'required section "Summary" is empty']));
  });

  test('criteria without AC-n ids, or an unusable test command, are spec_wrong', () => {
    expect(checkSpec(spec({ ac: '- it works' }), REQUIRED)).toMatchObject({ verdict: 'spec_wrong', problems: [expect.stringMatching(/AC-1/)] });
    expect(checkSpec(spec({ ac: '- AC-1: a\n- AC-1: b' }), REQUIRED).problems[0]).toMatch(/duplicate.*AC-1/);
    expect(checkSpec(spec({ test: 'npm test' }), REQUIRED)).toMatchObject({ verdict: 'spec_wrong', problems: [expect.stringMatching(/fenced/)] });
  });

  test('open questions are needs_human with one question each; a wrong spec wins over questions', () => {
    expect(checkSpec(spec({ questions: '- Which port?\n- Public?' }), REQUIRED)).toMatchObject({
      verdict: 'needs_human',
      questions: ['Which port?', 'Public?'],
    });
    expect(checkSpec(spec({ questions: '- Which port?', scope: null }), REQUIRED).verdict).toBe('spec_wrong');
  });

  test('attack: a catch-all Scope entry is spec_wrong unless the repo allows it', () => {
    for (const scope of ['- `/`', '- `**/*`', '- `src/a.ts`\n- `*/**`']) {
      const r = checkSpec(spec({ scope }), REQUIRED);
      expect(r.verdict).toBe('spec_wrong');
      expect(r.problems.join()).toMatch(/would put every file in scope/);
      expect(checkSpec(spec({ scope }), REQUIRED, { allowCatchAllScope: true }).verdict).toBe('pass');
    }
    expect(checkSpec(spec({ scope: '- `src/**`\n- `**/*.md`' }), REQUIRED).verdict).toBe('pass');
  });

  test('only the configured sections are required', () => {
    expect(checkSpec('## Summary\nDo it.\n', ['Summary']).verdict).toBe('pass');
    expect(checkSpec('## Summary\nDo it.\n', ['Summary', 'Risks']).problems).toEqual(['missing required section "Risks"']);
  });
});

describe('isInScope', () => {
  test.each([
    ['src/a.ts', ['src/'], true],
    ['src/deep/a.ts', ['src'], true],
    ['srcx/a.ts', ['src'], false],
    ['src/a.ts', ['src/a.ts'], true],
    ['src/a.tsx', ['src/a.ts'], false],
    ['./src/a.ts', ['src/**'], true],
    ['src/x/y/z.ts', ['src/**/z.ts'], true],
    ['src/z.ts', ['src/**/z.ts'], true],
    ['src/x/y.ts', ['src/*.ts'], false],
    ['src/y.ts', ['src/*.ts'], true],
    ['anything/at/all', ['**'], true],
    ['README.md', [], false],
    ['README.md', ['docs/', 'README.md'], true],
  ])('%s in %j → %s', (path, scope, expected) => {
    expect(isInScope(path, scope)).toBe(expected);
  });
});

test('meansNone and specSummary', () => {
  expect(meansNone('None of the endpoints exist yet?')).toBe(true); // accepted limitation: starts with "none"
  expect(meansNone('Which database?')).toBe(false);
  const text = specSummary(parseSpec(spec()));
  expect(text).toContain('Add a greeting endpoint.');
  expect(text).toContain('2 acceptance criteria (AC-1, AC-2)');
  expect(text).toContain('`npm test`');
  expect(text).toContain('`src/hello.ts`, `tests/`');
});

test.each([
  ['.', true],
  ['**', true],
  ['*', true],
  ['/', true],
  ['**/*', true],
  ['', true],
  ['src/**', false],
  ['**/*.ts', false],
  ['a', false],
])('isCatchAllScope(%j) → %s', (entry, expected) => {
  expect(isCatchAllScope(entry)).toBe(expected);
});

test('testCommandSha256 binds to the exact bytes of a command', () => {
  expect(testCommandSha256('npm test')).toMatch(/^[0-9a-f]{64}$/);
  expect(testCommandSha256('npm test')).not.toBe(testCommandSha256('npm test '));
  expect(testCommandSha256('npm test')).toBe(testCommandSha256('npm test'));
});
