/**
 * Parsers of untrusted text against megabyte-sized adversarial inputs (issue 14, item 9): runs of spaces, long
 * repeated partial matches, nested brackets, long lines without a newline, a U+2028 where a pattern wants the
 * end of the line. Each must give the right answer; jest's per-test timeout is the only bound. Against the old
 * patterns these tests time out (the `ci_timeout` one took 165 s for 1,000 spaces; most are quadratic).
 */
import { parseDurationMinutes, parseRepoConfig } from '../../src/config/repoConfig.js';
import { parseDependencies } from '../../src/domain/gates.js';
import { isInScope, meansNone, parseSpec, sectionBody } from '../../src/domain/spec.js';
import { markdownLines, parseCommands } from '../../src/domain/commands.js';
import { matchAnswer } from '../../src/domain/answers.js';
import { reviewChanges } from '../../src/agent/guard.js';
import { parseJUnit } from '../../action/src/junit.js';

const MB = 1024 * 1024;
const spaces = (n = MB) => ' '.repeat(n);
/** Spec and issue texts are cut at 1 MiB before parsing: inputs that must be read whole stay under it. */
const UNDER_CAP = MB / 4;
/** A character `.` does not match but that no Markdown splitter treats as a line end. */
const LS = '\u2028';
const BOUND = 10_000;
const self = { owner: 'acme', name: 'app', number: 99 };

describe('ci_timeout duration', () => {
  test(
    'a megabyte of spaces before junk, in .gitea/damascus.yml, is refused with a short message',
    () => {
      const r = parseRepoConfig(`ci_timeout: "${spaces()}x"\n`);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toMatch(/`ci_timeout` must be minutes/);
        expect(r.error.length).toBeLessThan(300);
      }
    },
    BOUND,
  );

  test(
    'spaces around and between parts: a megabyte of them is refused past the cap, a few are read',
    () => {
      expect(parseDurationMinutes(`1h${spaces()}30m`)).toBeNull();
      expect(parseDurationMinutes(`${spaces()}45m${spaces()}`)).toBe(45);
      expect(parseDurationMinutes(' 1h  30m ')).toBe(90);
      expect(parseDurationMinutes('1.5 h')).toBe(90);
      expect(parseDurationMinutes('90s')).toBe(1.5);
      expect(parseDurationMinutes('2 min')).toBe(2);
    },
    BOUND,
  );

  test(
    'repeated partial matches ("1h1h1h…", "1 1 1 …") are refused',
    () => {
      expect(parseDurationMinutes('1h'.repeat(MB / 2))).toBeNull();
      expect(parseDurationMinutes('1 '.repeat(MB / 2))).toBeNull();
      expect(parseDurationMinutes('30m1h')).toBeNull();
      expect(parseDurationMinutes('0m')).toBeNull();
    },
    BOUND,
  );
});

describe('"depends on" in an issue body', () => {
  test(
    'a dependency, then a megabyte of spaces and junk on the same line',
    () => {
      expect(parseDependencies(`Depends on #12${spaces()}x`, self)).toEqual([{ owner: 'acme', name: 'app', number: 12 }]);
    },
    BOUND,
  );

  test(
    '"depends on" and a megabyte of spaces, with no reference after them',
    () => {
      expect(parseDependencies(`depends on${spaces()}x`, self)).toEqual([]);
      expect(parseDependencies(`depends on:${spaces()}x`, self)).toEqual([]);
      expect(parseDependencies(`depends${'- '.repeat(MB / 2)}x`, self)).toEqual([]);
    },
    BOUND,
  );

  test(
    'a megabyte of near-references: owner/name without "#", "#" without a number, digits then a letter',
    () => {
      expect(parseDependencies(`depends on ${'a'.repeat(MB)}/${'b'.repeat(MB)}`, self)).toEqual([]);
      expect(parseDependencies(`depends on ${'#'.repeat(MB)}`, self)).toEqual([]);
      expect(parseDependencies(`depends on #${'1'.repeat(MB)}x`, self)).toEqual([]);
    },
    BOUND,
  );

  test(
    'a list of 30,000 references (0.9 MB) separated by runs of spaces and "and" is read whole',
    () => {
      const refs = Array.from({ length: 30_000 }, (_, i) => `o/r#${i + 1}`);
      const deps = parseDependencies(`Depends on: ${refs.join(`${spaces(8)}and${spaces(8)}`)}`, self);
      expect(deps).toHaveLength(30_000);
      expect(deps.at(-1)).toEqual({ owner: 'o', name: 'r', number: 30_000 });
    },
    BOUND,
  );
});

describe('spec text (written by the LLM, steered by the issue)', () => {
  const sections = (scope: string, extra = '') =>
    `# Spec\n\n## Summary\nx\n\n## Acceptance Criteria\n- AC-1: works\n${extra}\n\n## Test Command\n\`\`\`\nnpm test\n\`\`\`\n\n## Scope\n${scope}\n\n## Open Questions\nNone.`;

  test(
    'a heading with a quarter megabyte of spaces and a U+2028, and closing hashes after a quarter megabyte of spaces',
    () => {
      const s = parseSpec(`## Summary${spaces(UNDER_CAP)}x${LS}y\nbody\n## Scope${spaces(UNDER_CAP)}##\n- \`src/\``);
      expect(sectionBody(s.sections, `Summary${spaces(UNDER_CAP)}x${LS}y`)).toBe('body');
      expect(s.scope).toEqual(['src/']);
    },
    BOUND,
  );

  test(
    'a bold heading with a quarter megabyte of trailing stars and a final letter keeps its text',
    () => {
      const s = parseSpec(`## Scope${'*'.repeat(UNDER_CAP)}a\n- \`src/\``);
      expect([...s.sections.keys()]).toEqual([`Scope${'*'.repeat(UNDER_CAP)}a`]);
    },
    BOUND,
  );

  test(
    'list items and criteria with a quarter megabyte of spaces and a U+2028 still parse',
    () => {
      const s = parseSpec(sections(`- ${spaces(UNDER_CAP)}\`src/a.ts\`${LS}`, `- AC-2${spaces(UNDER_CAP)}:${spaces(UNDER_CAP)}slow${LS}x`));
      expect(s.scope).toEqual(['src/a.ts']);
      expect(s.acceptanceCriteria).toEqual([
        { id: 'AC-1', text: 'works' },
        { id: 'AC-2', text: `slow${LS}x` },
      ]);
    },
    BOUND,
  );

  test(
    'a fence of a quarter megabyte of backticks followed by a U+2028 opens a block',
    () => {
      const s = parseSpec(`## Test Command\n${'`'.repeat(UNDER_CAP)}${LS}\nnpm test\n${'`'.repeat(UNDER_CAP)}`);
      expect(s.testCommand).toBe('npm test');
    },
    BOUND,
  );

  test(
    '"None" followed by a megabyte of dots then a letter is not "none"; a megabyte of dots alone is',
    () => {
      expect(meansNone(`${'.'.repeat(MB)}x`)).toBe(false);
      expect(meansNone('.'.repeat(MB))).toBe(true);
      expect(meansNone(`none${'!'.repeat(MB)}`)).toBe(true);
    },
    BOUND,
  );

  test(
    'a Scope glob of many ** against a long path that almost matches, and globs still match',
    () => {
      const glob = '**a'.repeat(300);
      expect(isInScope(`${'a'.repeat(4000)}b`, [glob])).toBe(false);
      expect(isInScope('a'.repeat(400), [glob])).toBe(true);
      expect(isInScope('src/x/y.ts', ['src/**'])).toBe(true);
      expect(isInScope('src/y.ts', ['src/**/y.ts'])).toBe(true);
      expect(isInScope('src/x/y.ts', ['src/*.ts'])).toBe(false);
      expect(isInScope('src/y.ts', ['src/?.ts'])).toBe(true);
      expect(isInScope('src/y.ts', ['src/y.t?x'])).toBe(false);
    },
    BOUND,
  );
});

describe('comments (commands and answers)', () => {
  test(
    'a megabyte of backticks and a U+2028 opens a code block, so the command inside it does not run',
    () => {
      const body = `${'`'.repeat(MB)}${LS}\n/damascus approve\n`;
      expect(markdownLines(body)[1]).toMatchObject({ inCode: true });
      expect(parseCommands(body).commands).toEqual([]);
    },
    BOUND,
  );

  test(
    'a command after a megabyte of spaces and nested quote markers',
    () => {
      const body = `${'> '.repeat(MB / 2)}/damascus cancel\n/damascus${spaces()}retry${spaces()}now\n/damascus${'\t'.repeat(MB)}${LS}`;
      expect(parseCommands(body)).toEqual({ commands: [{ name: 'retry' }], unknown: [] });
    },
    BOUND,
  );

  test(
    'an answer made of a megabyte of "Q-" and brackets answers nothing by tag',
    () => {
      const open = [
        { id: 1, tag: 'Q-1', question: 'Which port?' },
        { id: 2, tag: 'Q-2', question: 'Which host?' },
      ];
      expect(matchAnswer(`${'Q-'.repeat(MB / 2)}${'[('.repeat(MB / 4)}`, open).answers).toEqual([]);
    },
    BOUND,
  );
});

describe('the scope guard over diff text', () => {
  test(
    'a removed megabyte-long line of near-assertions in a test file, and a path of a megabyte',
    () => {
      const longPath = `${'tests'.repeat(MB / 5)}.test.${'a'.repeat(1000)}/`;
      const diffText = [
        'diff --git a/tests/a.test.ts b/tests/a.test.ts',
        '--- a/tests/a.test.ts',
        '+++ b/tests/a.test.ts',
        '@@ -1 +0,0 @@',
        `-${'assertassert_'.repeat(MB / 13)} t.`,
        `diff --git a/${longPath} b/${longPath}`,
        `--- a/${longPath}`,
        `+++ b/${longPath}`,
        '@@ -1 +0,0 @@',
        `-${spaces()}x`,
      ].join('\n');
      const r = reviewChanges({ changedFiles: ['tests/a.test.ts', longPath], diffText, scope: ['tests/'] });
      expect(r.weakenedAssertions).toEqual(['tests/a.test.ts']);
      expect(r.outOfScope).toEqual([longPath]);
    },
    BOUND,
  );
});

describe('JUnit XML from the PR under test', () => {
  test('160,000 test cases are all counted (no spread of 160,000 arguments), names capped', () => {
    const xml = `<testsuite>${'<testcase name="a"><failure/></testcase>'.repeat(160_000)}</testsuite>`;
    const r = parseJUnit(xml);
    expect([r.total, r.failed, r.failing.length]).toEqual([160_000, 160_000, 200]);
  }, 60_000);

  test(
    'a megabyte of nested suites is refused as XML, not a stack overflow',
    () => {
      const depth = MB / 24;
      expect(() => parseJUnit(`${'<testsuite>'.repeat(depth)}${'</testsuite>'.repeat(depth)}`)).toThrow(/nested/i);
    },
    BOUND,
  );

  test(
    'an attribute of a megabyte of spaces and "<" characters',
    () => {
      const r = parseJUnit(`<testsuite><testcase name="${spaces()}x"/><testcase name="b"><skipped/></testcase></testsuite>`);
      expect([r.total, r.skipped, r.skippedNames]).toEqual([2, 1, ['b']]);
      expect(() => parseJUnit(`<testsuite>${'<'.repeat(MB)}</testsuite>`)).toThrow();
    },
    BOUND,
  );
});
