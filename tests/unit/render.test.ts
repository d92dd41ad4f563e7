import { markdownLines, VALID_COMMANDS } from '../../src/domain/commands.js';
import { STATES } from '../../src/domain/states.js';
import { labelCreateOption, labelPlan, labelsToRemove, STATE_LABELS, stateLabelName, stateOfLabel } from '../../src/gitea/labels.js';
import {
  codeBlock,
  findMarker,
  hasMarker,
  inlineText,
  markerFor,
  MAX_LOG_CHARS,
  proseText,
  renderCommandReply,
  renderQuestionComment,
  renderStatusComment,
  renderVerdictComment,
  type StatusView,
} from '../../src/gitea/render.js';

/** A live @mention: '@' directly followed by a name character. */
const LIVE_MENTION = /@[\w.-]/;
/** Lines Markdown would render as HTML/text (not code, not quote). */
const plainLines = (md: string) =>
  markdownLines(md)
    .filter((l) => !l.inCode && !l.quoted)
    .map((l) => l.text);

const baseStatus: StatusView = {
  itemId: 42,
  state: 'review',
  resumePhase: null,
  attempts: 1,
  budgetCycles: 3,
  costUsd: 0.4213,
  maxCostUsd: 5,
  phasesDone: { spec: true, build: true, review: false, merge: false },
  waitingOn: 'the review run',
  since: new Date('2026-01-02T03:04:05Z'),
  next: 'merge when the tests pass',
  prUrl: 'https://gitea.example.com/acme/shop/pulls/17',
  runUrl: 'https://gitea.example.com/acme/shop/actions/runs/99',
  openQuestions: [],
  updatedAt: '2026-01-02T03:10:00Z',
};

describe('markers', () => {
  test('format of each marker', () => {
    expect(markerFor.status(42)).toBe('<!-- damascus:status:42 -->');
    expect(markerFor.event(7)).toBe('<!-- damascus:event:7 -->');
    expect(markerFor.question('12')).toBe('<!-- damascus:question:12 -->');
  });

  test('ids that could break the comment are refused', () => {
    expect(() => markerFor.event('1 --> <b>')).toThrow(/marker id/);
    expect(() => markerFor.status('')).toThrow(/marker id/);
  });

  test('every rendered comment carries its marker, found by findMarker and hasMarker', () => {
    const status = renderStatusComment(baseStatus);
    expect(findMarker(status)).toEqual({ kind: 'status', id: '42' });
    const verdict = renderVerdictComment({
      eventId: 301,
      phase: 'build',
      verdict: 'pass',
      from: 'build',
      to: 'review',
      reason: null,
      attempts: 0,
      budgetCycles: 3,
      explanation: null,
    });
    expect(findMarker(verdict)).toEqual({ kind: 'event', id: '301' });
    const question = renderQuestionComment({ humanIssueId: 12, tag: 'Q-12', question: 'Why?', kind: 'question', phase: 'spec' });
    expect(findMarker(question)).toEqual({ kind: 'question', id: '12' });
    expect(hasMarker(question, markerFor.question(12))).toBe(true);
    expect(hasMarker(question, markerFor.question(1))).toBe(false);
    const reply = renderCommandReply(55, { kind: 'unknown', words: ['x'] });
    expect(findMarker(reply)).toEqual({ kind: 'event', id: '55' });
  });

  test('a quote-reply of a bot comment carries no marker (quoted lines are ignored)', () => {
    const status = renderStatusComment(baseStatus);
    const reply = `${status
      .split('\n')
      .map((l) => `> ${l}`)
      .join('\n')}\n\nlooks good`;
    expect(findMarker(reply)).toBeNull();
    expect(hasMarker(reply, markerFor.status(42))).toBe(false);
    expect(findMarker(`>${markerFor.event(1)}\nx`)).toBeNull();
  });

  test('markers inside code blocks or mid-line do not count', () => {
    expect(findMarker(`\`\`\`\n${markerFor.event(1)}\n\`\`\``)).toBeNull();
    expect(findMarker(`text ${markerFor.event(1)}`)).toBeNull();
    expect(findMarker(`plain\n  ${markerFor.event(3)}  \n`)).toEqual({ kind: 'event', id: '3' });
  });
});

describe('neutralising untrusted text', () => {
  test('inlineText: one line, mentions defused, no HTML, capped', () => {
    const out = inlineText('hi @everyone\n<!-- damascus:status:1 --> and </details>', 1000);
    expect(out).not.toMatch(LIVE_MENTION);
    expect(out).not.toContain('\n');
    expect(out).not.toContain('<');
    expect(out).toContain('@\u200deveryone');
    expect(inlineText('x'.repeat(500), 100).startsWith(`${'x'.repeat(100)}…`)).toBe(true);
    expect(inlineText('x'.repeat(500), 100)).toContain('400 more characters cut');
  });

  test('proseText: Markdown kept, HTML and mentions defused outside code, open fences closed', () => {
    const out = proseText('**Fix** for @alice:\n<!-- damascus:event:9 -->\n```js\nif (a < b) notify("@bob")\n');
    expect(out).toContain('**Fix**');
    expect(out).not.toMatch(LIVE_MENTION);
    expect(findMarker(out)).toBeNull();
    expect(out).toContain('if (a < b)'); // '<' is literal inside code, so left alone there
    expect(markdownLines(`${out}\nAFTER`).at(-1)).toEqual({ text: 'AFTER', quoted: false, inCode: false });
  });

  test('codeBlock: the fence is longer than any backtick run inside', () => {
    const log = 'ok\n````\n</details>\n```````\n@everyone failed';
    const block = codeBlock(log);
    expect(block.startsWith('````````text\n')).toBe(true);
    expect(block.endsWith('\n````````')).toBe(true);
    const after = markdownLines(`${block}\nAFTER`);
    expect(after.slice(0, -1).every((l) => l.inCode)).toBe(true);
    expect(after.at(-1)?.inCode).toBe(false);
    expect(block).not.toMatch(LIVE_MENTION);
  });

  test('codeBlock: long output is capped, keeping the head and the (more useful) tail', () => {
    const log = `FIRST LINE\n${'a'.repeat(200_000)}\nLAST LINE: 3 tests failed`;
    const block = codeBlock(log);
    expect(block.length).toBeLessThan(MAX_LOG_CHARS + 200);
    expect(block).toContain('FIRST LINE');
    expect(block).toContain('LAST LINE: 3 tests failed');
    expect(block).toMatch(/\(\d+ characters cut\)/);
  });

  test('capping never splits a surrogate pair', () => {
    const block = codeBlock('😀'.repeat(40_000), 1001);
    expect(block).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  });
});

describe('renderStatusComment', () => {
  test('checklist, now, waiting since, next, attempts, cost, links', () => {
    const md = renderStatusComment(baseStatus);
    expect(md).toContain('- [x] spec\n- [x] build\n- [ ] review\n- [ ] merge');
    expect(md).toContain('**Now:** review (re-running the tests on the pull request)');
    expect(md).toContain('**Waiting on:** the review run since 2026-01-02 03:04 UTC');
    expect(md).toContain('**Next:** merge when the tests pass');
    expect(md).toContain('**Attempts:** 1 of 3 used');
    expect(md).toContain('**Cost:** $0.42 of $5.00');
    expect(md).toContain('[pull request](https://gitea.example.com/acme/shop/pulls/17) · [review run](https://gitea.example.com/acme/shop/actions/runs/99)');
    expect(md).toContain('Updated 2026-01-02 03:10 UTC');
  });

  test('parked states say what resumes; no cost limit; no links; open questions listed', () => {
    const md = renderStatusComment({
      ...baseStatus,
      state: 'awaiting_human',
      resumePhase: 'build',
      maxCostUsd: null,
      prUrl: null,
      runUrl: 'javascript:alert(1)',
      waitingOn: 'an answer to Q-3',
      openQuestions: [{ tag: 'Q-3', question: 'Ask @ops\nabout <b>ports</b>' }],
    });
    expect(md).toContain('**Now:** awaiting an answer, then back to build');
    expect(md).toContain('$0.42 (no limit)');
    expect(md).not.toContain('Links');
    expect(md).not.toContain('javascript:');
    expect(md).toContain('- `Q-3`: Ask @\u200dops about &lt;b>ports&lt;/b>');
    expect(md).not.toMatch(LIVE_MENTION);
  });

  test('blocked and done read as such; nothing waiting', () => {
    expect(renderStatusComment({ ...baseStatus, state: 'blocked', resumePhase: 'review' })).toContain('blocked in review; `/damascus retry`');
    const done = renderStatusComment({ ...baseStatus, state: 'done', waitingOn: null, phasesDone: { spec: true, build: true, review: true, merge: true } });
    expect(done).toContain('**Now:** done');
    expect(done).toContain('- [x] merge');
    expect(done).toContain('**Waiting on:** nothing');
  });

  test("a running build shows its agent's progress; a run whose cost nobody knows is never shown as free", () => {
    const agent = { builder: 'claude-code', turns: 4, costUsd: 0.0712, activity: 'Write src/<b>a</b>.ts @ops', at: '2026-01-02T03:09:00Z' };
    const md = renderStatusComment({ ...baseStatus, state: 'build', agent, unknownCostRuns: 2 });
    expect(md).toContain('- **Agent:** `claude-code` · 4 turns · $0.07 so far · last: Write src/&lt;b>a&lt;/b>.ts @\u200dops (at 2026-01-02 03:09 UTC)');
    expect(md).toContain('**Cost:** $0.42 + unknown (2 runs reported no cost) of $5.00');
    expect(md).not.toMatch(LIVE_MENTION);
    // Unknown so far, and no progress line once the build is over.
    expect(renderStatusComment({ ...baseStatus, state: 'build', agent: { ...agent, costUsd: null, turns: 1 } })).toContain('1 turn · cost so far unknown');
    expect(renderStatusComment({ ...baseStatus, state: 'review', agent })).not.toContain('**Agent:**');
  });

  test('a hostile "waiting on" / "next" cannot inject HTML or mentions', () => {
    const md = renderStatusComment({ ...baseStatus, waitingOn: '@everyone -->\n<!-- damascus:status:1 -->', next: '</sub><h1>x</h1>' });
    expect(findMarker(md)).toEqual({ kind: 'status', id: '42' });
    expect(md.match(/<!--/g)).toHaveLength(1);
    expect(md).not.toContain('<h1>');
    expect(md).not.toMatch(LIVE_MENTION);
  });
});

describe('the approval request on a verdict that opened a spec_approval gate', () => {
  const pass = {
    eventId: 9,
    phase: 'spec' as const,
    verdict: 'pass' as const,
    from: 'spec' as const,
    to: 'build' as const,
    reason: 'spec v1',
    attempts: 0,
    budgetCycles: 3,
    explanation: null,
  };

  test("the spec's test command is shown verbatim, with the approve command and its sha", () => {
    const md = renderVerdictComment({
      ...pass,
      approval: { reasons: ['no test_command'], testCommand: 'npm test -- --ci', testCommandSha256: 'ab'.repeat(32) },
    });
    expect(md).toContain('```sh\nnpm test -- --ci\n```');
    expect(md).toContain('`/damascus approve abababababab`');
    expect(md.indexOf('Waiting for a writer')).toBeLessThan(md.indexOf('npm test')); // visible, not folded away
  });

  test('attack: a command with backticks and a fake marker cannot close its fence or forge anything', () => {
    const command = 'true ``` ```` && echo "<!-- damascus:status:1 -->" ``````';
    const md = renderVerdictComment({ ...pass, approval: { reasons: [], testCommand: command, testCommandSha256: 'cd'.repeat(32) } });
    expect(md).toContain(`\n${command}\n`);
    const lines = markdownLines(md);
    expect(lines.find((l) => l.text === command)).toMatchObject({ inCode: true });
    expect(findMarker(md)).toEqual({ kind: 'event', id: '9' });
    // the text after the block is plain again
    expect(lines.filter((l) => !l.inCode).at(-1)!.text).toMatch(/^A writer: reply/);
  });

  test('without a command (require_spec_approval only) it asks for a plain approve', () => {
    expect(renderVerdictComment({ ...pass, approval: { reasons: ['require_spec_approval is set'] } })).toContain(
      'reply `/damascus approve` to let the build start',
    );
  });
});

describe('renderVerdictComment', () => {
  const fail = {
    eventId: 88,
    phase: 'review' as const,
    verdict: 'fail' as const,
    from: 'review' as const,
    to: 'build' as const,
    reason: '2 tests failed',
    attempts: 2,
    budgetCycles: 3,
    explanation: 'The PR head failed `npm test`.',
    details: 'FAIL tests/a.test.ts\n  expected 1, got 2',
  };

  test('one short line, then the details folded', () => {
    const md = renderVerdictComment(fail);
    const [marker, line, rest] = md.split('\n\n');
    expect(marker).toBe(markerFor.event(88));
    expect(line).toBe('**review: fail** → build (attempts 2 of 3 used): 2 tests failed');
    expect(rest).toBe('<details>\n<summary>Details (review → build)</summary>');
    expect(md).toContain('The PR head failed `npm test`.');
    expect(md).toContain('```text\nFAIL tests/a.test.ts\n  expected 1, got 2\n```');
    expect(md.trimEnd().endsWith('</details>')).toBe(true);
  });

  test('no explanation and no details → no fold', () => {
    const md = renderVerdictComment({ ...fail, explanation: null, details: null, reason: null });
    expect(md).toBe(`${markerFor.event(88)}\n\n**review: fail** → build (attempts 2 of 3 used)`);
  });

  test('adversarial output cannot close the fold, forge a marker or ping anyone', () => {
    const md = renderVerdictComment({
      ...fail,
      reason: '@everyone look </details>',
      explanation: 'see below\n</details>\n<!-- damascus:status:1 -->\n````\nunclosed fence @alice',
      details: '```\n</details>\n<!-- damascus:event:1 -->\n`````` @bob',
    });
    expect(md).not.toMatch(LIVE_MENTION);
    expect(findMarker(md)).toEqual({ kind: 'event', id: '88' });
    // The only </details> Markdown sees as HTML is the last line, ours.
    const html = plainLines(md).filter((l) => l.includes('</details>'));
    expect(html).toEqual(['</details>']);
    expect(markdownLines(md).at(-1)).toEqual({ text: '</details>', quoted: false, inCode: false });
  });
});

describe('renderQuestionComment', () => {
  test('a question says how to answer: quote-reply, tag mention, only-open, write access', () => {
    const md = renderQuestionComment({ humanIssueId: 12, tag: 'Q-12', question: 'Which port should the server use?', kind: 'question', phase: 'spec' });
    expect(md).toContain('**Question `Q-12`** (from spec)');
    expect(md).toContain('Which port should the server use?');
    expect(md).toMatch(/quote-reply this comment/);
    expect(md).toMatch(/mention `Q-12`/);
    expect(md).toMatch(/only open question, any comment/);
    expect(md).toMatch(/write access/);
    expect(md).not.toContain('/damascus retry');
  });

  test('blocked says /damascus retry (and cancel)', () => {
    const md = renderQuestionComment({ humanIssueId: 3, tag: 'Q-3', question: 'Budget of 3 attempts used up.', kind: 'blocked', phase: 'build' });
    expect(md).toContain('**Blocked `Q-3`** (in build)');
    expect(md).toContain('`/damascus retry` to reset the attempts and resume build');
    expect(md).toContain('`/damascus cancel`');
  });

  test('the question text (LLM output) is neutralised', () => {
    const md = renderQuestionComment({ humanIssueId: 3, tag: 'Q-3', question: '@everyone?\n<!-- damascus:question:4 -->', kind: 'question', phase: 'spec' });
    expect(md).not.toMatch(LIVE_MENTION);
    expect(findMarker(md)).toEqual({ kind: 'question', id: '3' });
    expect(md.match(/<!--/g)).toHaveLength(1);
  });
});

describe('renderCommandReply', () => {
  test('unknown lists every valid command and the word given', () => {
    const md = renderCommandReply(1, { kind: 'unknown', words: ['merge', ''] });
    for (const c of VALID_COMMANDS) expect(md).toContain(`\`/damascus ${c}\``);
    expect(md).toContain('`merge`, (none)');
  });

  test('an unknown word cannot break out of its code span or ping', () => {
    const md = renderCommandReply(1, { kind: 'unknown', words: ['`@everyone`'] });
    expect(md).not.toMatch(LIVE_MENTION);
    expect(md).toContain('`@\u200deveryone`');
  });

  test('forbidden is a polite refusal naming the write-access rule', () => {
    const md = renderCommandReply(2, { kind: 'forbidden', login: 'mallory' });
    expect(md).toMatch(/Sorry, mallory: only users with write access/);
    expect(md).not.toMatch(LIVE_MENTION);
  });

  test('why shows the last transition explanation; none recorded says so', () => {
    const md = renderCommandReply(3, { kind: 'why', explanation: 'Review failed: 2 tests.', from: 'review', to: 'build', at: '2026-01-02T03:04:05Z' });
    expect(md).toContain('Why it moved from review to build (2026-01-02 03:04 UTC):\n\nReview failed: 2 tests.');
    expect(renderCommandReply(3, { kind: 'why', explanation: null })).toContain('No transition has been recorded');
  });

  test('acknowledgements', () => {
    expect(renderCommandReply(4, { kind: 'approved', login: 'alice', resumes: 'build' })).toContain('Approved by alice. Resuming build.');
    expect(renderCommandReply(4, { kind: 'approved', login: 'alice', resumes: 'build', fingerprint: 'f'.repeat(64) })).toContain(
      'Approved by alice: the change `ffffffffffff`. Resuming build.',
    );
    expect(renderCommandReply(4, { kind: 'retried', login: 'alice', resumes: 'review' })).toContain('attempts reset, resuming review');
    expect(renderCommandReply(4, { kind: 'cancelled', login: 'alice' })).toContain('Cancelled by alice.');
    expect(renderCommandReply(4, { kind: 'status', statusUrl: 'https://g.example/acme/shop/issues/1#issuecomment-5' })).toContain(
      '[status comment](https://g.example/acme/shop/issues/1#issuecomment-5)',
    );
    expect(renderCommandReply(4, { kind: 'not_applicable', command: 'retry', state: 'done' })).toContain(
      '`/damascus retry` does not apply while the item is done',
    );
  });
});

describe('state labels', () => {
  test('one damascus/<state> label per state, hex colours without #, descriptions', () => {
    for (const s of STATES) {
      expect(STATE_LABELS[s].name).toBe(`damascus/${s}`);
      expect(stateLabelName(s)).toBe(`damascus/${s}`);
      expect(STATE_LABELS[s].color).toMatch(/^[0-9a-f]{6}$/);
      expect(STATE_LABELS[s].description.length).toBeGreaterThan(0);
      expect(stateOfLabel(`Damascus/${s}`)).toBe(s);
    }
    expect(new Set(STATES.map((s) => STATE_LABELS[s].color)).size).toBe(STATES.length);
    expect(stateOfLabel('damascus')).toBeNull();
    expect(stateOfLabel('damascus/other')).toBeNull();
  });

  test('labelCreateOption is a CreateLabelOption: #colour, exclusive scope', () => {
    expect(labelCreateOption('blocked')).toEqual({
      name: 'damascus/blocked',
      color: '#b60205',
      description: STATE_LABELS.blocked.description,
      exclusive: true,
    });
  });

  test('labelsToRemove: every other state label, nothing else', () => {
    const current = ['bug', 'damascus', 'damascus/spec', 'Damascus/Build', 'damascus/review', 'damascus/other'];
    expect(labelsToRemove(current, 'review')).toEqual(['damascus/spec', 'Damascus/Build']);
    expect(labelsToRemove(['bug'], 'done')).toEqual([]);
  });

  test('labelPlan adds the state label only when missing', () => {
    expect(labelPlan(['damascus', 'damascus/spec'], 'build')).toEqual({ add: 'damascus/build', remove: ['damascus/spec'] });
    expect(labelPlan(['damascus', 'damascus/build'], 'build')).toEqual({ add: null, remove: [] });
  });
});
