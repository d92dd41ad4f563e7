import { outboxEvent, readOutboxEvent, replyEvent } from '../../src/domain/events.js';

describe('readOutboxEvent: a stored row as its typed event', () => {
  test('a row of a known type with its payload reads back as the event its writer made', () => {
    const ev = outboxEvent('work.cancelled', { from: 'build', by: 'alice', reason: 'not now' });
    expect(readOutboxEvent(ev)).toEqual(ev);
    const reply = replyEvent({ kind: 'forbidden', login: 'mallory' }, 3, 'mallory');
    expect(reply.type).toBe('reply.refused');
    expect(readOutboxEvent(reply)).toEqual(reply);
  });
  test('an unknown type is null (the relay skips it and says so)', () => {
    expect(readOutboxEvent({ type: 'work.teleported', payload: {} })).toBeNull();
    expect(readOutboxEvent({ type: 'toString', payload: {} })).toBeNull();
  });
  test("a payload that is not its type's shape is refused: a field missing, of the wrong type, or one too many", () => {
    expect(() => readOutboxEvent({ type: 'work.cancelled', payload: { from: 'build', by: 'alice' } })).toThrow(/not a work.cancelled payload/);
    expect(() => readOutboxEvent({ type: 'work.cancelled', payload: { from: 'limbo', by: 'alice', reason: 'x' } })).toThrow();
    expect(() => readOutboxEvent({ type: 'work.done', payload: { mergedBy: 'a', mergeCommitSha: null, extra: 1 } })).toThrow();
    expect(() => readOutboxEvent({ type: 'human.question', payload: null })).toThrow();
    // a reply whose kind is not its type's
    expect(() => readOutboxEvent({ type: 'reply.retried', payload: { reply: { kind: 'cancelled', login: 'a' }, commentId: 1, by: 'a' } })).toThrow();
  });
});
