import { markdownLines, parseCommands, unclosedFence, VALID_COMMANDS } from '../../src/domain/commands.js';

const names = (body: string) => parseCommands(body).commands.map((c) => c.name);

describe('parseCommands', () => {
  test('every valid command on its own line', () => {
    for (const c of VALID_COMMANDS) {
      expect(parseCommands(`/damascus ${c}`)).toEqual({ commands: [{ name: c }], unknown: [] });
    }
    expect([...VALID_COMMANDS].sort()).toEqual(['approve', 'cancel', 'retry', 'status', 'why']);
  });

  test('several commands, in order, each once; case-insensitive; trailing words allowed', () => {
    const body = 'Thanks!\n/damascus status\n/Damascus RETRY please\n  /damascus   why\n/damascus status';
    expect(parseCommands(body)).toEqual({ commands: [{ name: 'status' }, { name: 'retry' }, { name: 'why' }], unknown: [] });
  });

  test('unknown words are reported (lower-cased, deduped); a bare /damascus is unknown ""', () => {
    expect(parseCommands('/damascus merge\n/damascus MERGE\n/damascus\n/damascus cancel')).toEqual({
      commands: [{ name: 'cancel' }],
      unknown: ['merge', ''],
    });
  });

  test('an absurdly long unknown word is cut to 40 characters', () => {
    expect(parseCommands(`/damascus ${'x'.repeat(500)}`).unknown).toEqual(['x'.repeat(40)]);
  });

  test('only at the start of a line (≤ 3 spaces in), not mid-sentence, not glued', () => {
    expect(names('please run /damascus retry')).toEqual([]);
    expect(names('/damascusretry')).toEqual([]);
    expect(names('    /damascus retry')).toEqual([]); // 4 spaces: an indented code block
    expect(names('`/damascus retry`')).toEqual([]);
    expect(names('   /damascus retry')).toEqual(['retry']);
    expect(names('/damascus\tcancel')).toEqual(['cancel']);
  });

  test('quoted lines (a quote-reply of someone else) are ignored', () => {
    expect(parseCommands('> /damascus cancel\n>> /damascus retry\n   > /damascus approve\nok')).toEqual({ commands: [], unknown: [] });
    expect(names('> /damascus cancel\n\n/damascus status')).toEqual(['status']);
  });

  test('lines inside fenced code blocks are ignored, backticks and tildes, longer closers', () => {
    const body = ['```', '/damascus cancel', '```', '~~~~ sh', '/damascus retry', '~~~', '/damascus approve', '~~~~', '/damascus why'].join('\n');
    // The ~~~ line does not close a ~~~~ fence, so /damascus approve is still code.
    expect(names(body)).toEqual(['why']);
  });

  test('an unclosed fence hides everything after it', () => {
    expect(names('```\n/damascus cancel\n')).toEqual([]);
  });

  test('CRLF line endings', () => {
    expect(names('hi\r\n/damascus retry\r\n')).toEqual(['retry']);
  });
});

describe('markdownLines', () => {
  test('classifies quote, code and plain lines', () => {
    const lines = markdownLines('a\n> b\n```js\nc\n```\nd');
    expect(lines.map((l) => [l.text, l.quoted, l.inCode])).toEqual([
      ['a', false, false],
      ['> b', true, false],
      ['```js', false, true],
      ['c', false, true],
      ['```', false, true],
      ['d', false, false],
    ]);
  });

  test('a backtick run with a backtick in its info string is inline code, not a fence', () => {
    expect(markdownLines('``` a ` b\n/damascus x').map((l) => l.inCode)).toEqual([false, false]);
  });

  test('unclosedFence reports the open fence', () => {
    expect(unclosedFence('x\n````\ncode')).toBe('````');
    expect(unclosedFence('x\n````\ncode\n`````')).toBeNull();
    expect(unclosedFence('~~~\n```')).toBe('~~~');
  });
});

describe('the argument of /damascus approve', () => {
  test('the word after approve is its argument (capped); other commands carry none', () => {
    expect(parseCommands('/damascus approve 3f2a9c1b77e0').commands).toEqual([{ name: 'approve', arg: '3f2a9c1b77e0' }]);
    expect(parseCommands('/damascus approve').commands).toEqual([{ name: 'approve' }]);
    expect(parseCommands(`/damascus approve ${'a'.repeat(200)}`).commands[0]!.arg).toBe('a'.repeat(64));
    expect(parseCommands('/damascus retry now').commands).toEqual([{ name: 'retry' }]);
  });

  test('attack: approval in prose, quoted or in code is no command', () => {
    for (const body of [
      'I approve',
      'do not approve',
      'please /damascus approve',
      '> /damascus approve',
      '```\n/damascus approve\n```',
      '`/damascus approve`',
    ]) {
      expect(parseCommands(body).commands).toEqual([]);
    }
  });
});
