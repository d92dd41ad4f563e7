import { answerText, matchAnswer, type OpenQuestion } from '../../src/domain/answers.js';
import { renderQuestionComment } from '../../src/gitea/render.js';

const q7: OpenQuestion = { id: 7, tag: 'Q-7', question: 'Which database should the cache use: Redis or PostgreSQL?' };
const q12: OpenQuestion = { id: 12, tag: 'Q-12', question: 'Should the API keep the v1 endpoints for old clients?' };
const ids = (body: string, open: OpenQuestion[]) => matchAnswer(body, open).answers.map((a) => a.id);

/** What Gitea's "Quote reply" produces: every line of the quoted comment prefixed with "> ". */
const quoteOf = (text: string) =>
  text
    .split('\n')
    .map((l) => `> ${l}`)
    .join('\n');

describe('matchAnswer', () => {
  test('only one question open: any comment answers it, with the whole comment as the answer', () => {
    expect(matchAnswer('Use PostgreSQL.\n\nIt is already there.', [q7])).toEqual({ answers: [{ id: 7, text: 'Use PostgreSQL.\n\nIt is already there.' }] });
  });

  test('two open: a plain comment naming no tag answers nothing', () => {
    expect(ids('Use PostgreSQL.', [q7, q12])).toEqual([]);
  });

  test('two open: a tag mention outside quotes picks that question (case-insensitive)', () => {
    expect(ids('For Q-12: yes, keep them.', [q7, q12])).toEqual([12]);
    expect(ids('q-7 → PostgreSQL', [q7, q12])).toEqual([7]);
    expect(ids('Q-7 PostgreSQL; Q-12 yes', [q7, q12])).toEqual([7, 12]);
  });

  test('tags match whole: Q-1 is not Q-12, Q-120 is not Q-12', () => {
    const q1: OpenQuestion = { id: 1, tag: 'Q-1', question: 'First?' };
    expect(ids('About Q-12: yes', [q1, q12])).toEqual([12]);
    expect(ids('About Q-120: yes', [q1, q12])).toEqual([]);
    expect(ids('see XQ-12 yes', [q1, q12])).toEqual([]);
  });

  test("a quote-reply of the bot's question comment answers that question; the answer excludes the quote", () => {
    const botComment = renderQuestionComment({ humanIssueId: 12, tag: 'Q-12', question: q12.question, kind: 'question', phase: 'spec' });
    const body = `${quoteOf(botComment)}\n\nYes, keep v1 until 2027.`;
    expect(matchAnswer(body, [q7, q12])).toEqual({ answers: [{ id: 12, text: 'Yes, keep v1 until 2027.' }] });
  });

  test('a quote-reply of a selection of the question text (no tag) answers it', () => {
    const body = '> Which database should the cache use\n\nRedis.';
    expect(matchAnswer(body, [q7, q12])).toEqual({ answers: [{ id: 7, text: 'Redis.' }] });
  });

  test('a quote reproducing the whole question across lines and with emphasis still matches', () => {
    const body = '> **Which database** should the cache\n> use: Redis or _PostgreSQL_?\n\nPostgreSQL';
    expect(ids(body, [q7, q12])).toEqual([7]);
  });

  test('a very short quoted fragment is too weak to pick a question', () => {
    expect(ids('> the\n\nyes', [q7, q12])).toEqual([]);
  });

  test('a comment that is only a quote answers nothing, even with one question open', () => {
    expect(ids(quoteOf(q7.question), [q7])).toEqual([]);
  });

  test('a comment that is only commands answers nothing', () => {
    expect(ids('/damascus retry', [q7])).toEqual([]);
    expect(ids('/damascus status\n/damascus why\n', [q7, q12])).toEqual([]);
    expect(ids('Q-7\n/damascus retry', [q7])).toEqual([7]);
  });

  test('command lines are dropped from the answer text', () => {
    expect(matchAnswer('PostgreSQL.\n/damascus approve', [q7]).answers).toEqual([{ id: 7, text: 'PostgreSQL.' }]);
  });

  test('naming a tag that is not open does not answer the single open question', () => {
    expect(ids('Re Q-3: done already', [q7])).toEqual([]);
  });

  test('a tag inside a code block is not a mention, but the code is kept in the answer', () => {
    const body = 'Use this config:\n```\nretries: 3 # Q-12\n```';
    expect(ids(body, [q7, q12])).toEqual([]);
    expect(matchAnswer(body, [q7]).answers[0]?.text).toBe(body);
  });

  test('the bot escapes (zero-width joiner after @, &lt;) do not stop a quote from matching', () => {
    const q: OpenQuestion = { id: 5, tag: 'Q-5', question: 'Should @admin approve values < 10 first?' };
    const botComment = renderQuestionComment({ humanIssueId: 5, tag: 'Q-5', question: q.question, kind: 'question', phase: 'build' });
    // Quote only the question paragraph (no tag): it carries the bot's escapes.
    const para = botComment.split('\n\n')[2] ?? '';
    expect(para).not.toContain('Q-5');
    expect(ids(`${quoteOf(para)}\n\nyes`, [q12, q])).toEqual([5]);
  });

  test('no open questions → nothing', () => {
    expect(matchAnswer('anything', [])).toEqual({ answers: [] });
  });
});

describe('answerText', () => {
  test('drops quotes and commands, keeps code (even command-looking lines inside it)', () => {
    expect(answerText('> quoted\n\nmine\n/damascus retry\n```\n/damascus cancel\n```')).toBe('mine\n```\n/damascus cancel\n```');
  });
});
