import { PhaseStateError, parsePhaseState, readPhaseState, type PhaseState } from '../../src/domain/phaseState.js';

/** Every key, each with a value of its type, as the phases and the store write them. */
const FULL: PhaseState = {
  testCommand: 'npm test',
  scope: ['src/a.ts', 'tests/'],
  reviewDispatch: { sha: 'a'.repeat(40), at: 1_700_000_000_000, count: 1, nonce: '0011223344556677', runId: 17, runUrl: 'http://gitea/runs/17' },
  runUrl: 'http://gitea/runs/17',
  lastResultId: 42,
  mergeWaits: 3,
  rebuildFromBase: true,
  prUrl: 'http://gitea/acme/widgets/pulls/9',
  buildFingerprints: ['f1', 'f2'],
  pendingApproval: 'abc123',
  approvalQuestion: 'A writer: reply …',
  changeApproval: { fingerprint: 'abc123', by: 'alice', at: '2026-12-02T08:00:00.000Z' },
  lastTransition: { verdict: 'fail', from: 'review', to: 'build', explanation: 'review said fail; attempt 1 of 3, next is build' },
  waiting: { reason: 'review run dispatched', since: '2026-12-02T08:00:00.000Z' },
  issueDeleted: false,
};

describe('phase state (work_items.details)', () => {
  test('a row with every key, each of its type, reads back whole', () => {
    expect(parsePhaseState(JSON.parse(JSON.stringify(FULL)), 1)).toEqual(FULL);
    expect(readPhaseState(FULL).problems).toEqual([]);
  });

  test('the column default (an empty object) and the nulls the phases write to clear a key fit', () => {
    expect(parsePhaseState({}, 1)).toEqual({});
    const cleared = { testCommand: null, runUrl: null, rebuildFromBase: null, pendingApproval: null, approvalQuestion: null, changeApproval: null };
    expect(parsePhaseState(cleared, 1)).toEqual(cleared);
    // a dispatch from before the nonce: only its required fields
    expect(parsePhaseState({ reviewDispatch: { sha: 'b', at: 0, count: 0 } }, 1)).toEqual({ reviewDispatch: { sha: 'b', at: 0, count: 0 } });
  });

  test("a key this version does not know (an older or newer one's) is left out, not a problem", () => {
    expect(readPhaseState({ prHead: 'c'.repeat(40), mergeWaits: 1 })).toEqual({ state: { mergeWaits: 1 }, problems: [] });
  });

  test.each<[string, unknown, RegExp]>([
    ['a number as text', { mergeWaits: '3' }, /mergeWaits is "3"/],
    ['a list with a non-string', { buildFingerprints: ['f1', 2] }, /buildFingerprints is \["f1",2\]/],
    ['a dispatch without its sha', { reviewDispatch: { at: 1, count: 1, nonce: 'n' } }, /reviewDispatch is/],
    ['a dispatch nonce that is not text', { reviewDispatch: { sha: 'a', at: 1, count: 1, nonce: 7 } }, /reviewDispatch is/],
    ['a transition to no state', { lastTransition: { verdict: 'fail', from: 'review', to: 'limbo', explanation: 'x' } }, /lastTransition is/],
    ['a transition with no verdict', { lastTransition: { verdict: 'maybe', from: 'review', to: 'build', explanation: 'x' } }, /lastTransition is/],
    ['an approval without its author', { changeApproval: { fingerprint: 'f', at: 't' } }, /changeApproval is/],
    ['a flag as text', { issueDeleted: 'true' }, /issueDeleted is "true"/],
    ['a null where none is written', { prUrl: null }, /prUrl is null/],
    ['an infinite number', { lastResultId: Number.POSITIVE_INFINITY }, /lastResultId is/],
  ])('a row with %s is a PhaseStateError naming the key and the item', (_name, json, message) => {
    expect(() => parsePhaseState(json, 77)).toThrow(PhaseStateError);
    expect(() => parsePhaseState(json, 77)).toThrow(message);
    expect(() => parsePhaseState(json, 77)).toThrow(/item 77's phase state/);
  });

  test('the keys that fit are kept beside the problems (what the mirror shows of a row the claim refuses)', () => {
    const r = readPhaseState({ prUrl: 'http://x/pulls/1', mergeWaits: 'many', scope: 'src' });
    expect(r.state).toEqual({ prUrl: 'http://x/pulls/1' });
    expect(r.problems).toEqual(['mergeWaits is "many"', 'scope is "src"']);
  });

  test.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['string', '{}'],
    ['number', 3],
  ])('a phase state that is %s, not an object, is refused', (what, json) => {
    expect(() => parsePhaseState(json, 5)).toThrow(`it is ${what}, not an object`);
  });
});
