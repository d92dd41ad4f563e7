import { TailBuffer } from '../../action/src/tail.js';
import { MASK, collectSecrets, maskTail } from '../../action/src/mask.js';
import { globToRegExp, parseJUnit } from '../../action/src/junit.js';

describe('TailBuffer', () => {
  test('keeps exactly the last capacity bytes across chunk boundaries', () => {
    const tail = new TailBuffer(10);
    let all = '';
    for (const piece of ['abc', 'defghij', 'k', 'lmnopqrstuvwxyz', '0123']) {
      tail.push(Buffer.from(piece));
      all += piece;
      expect(tail.bytes().toString()).toBe(all.slice(-10));
    }
    expect(tail.totalBytes).toBe(all.length);
    expect(tail.truncated).toBe(true);
  });

  test('is not truncated while everything fits', () => {
    const tail = new TailBuffer(10);
    tail.push(Buffer.from('0123456789'));
    expect(tail.truncated).toBe(false);
    expect(tail.bytes().toString()).toBe('0123456789');
  });
});

describe('collectSecrets', () => {
  test('explicit secrets plus env values of secret-looking names (6+ chars), longest first', () => {
    const found = collectSecrets(['the-token-value', 'abc'], {
      MY_API_KEY: 'key-123456',
      DB_PASSWORD: 'pw-0987654321',
      GITEA_TOKEN: 'short', // too short to mask safely
      HOME: '/home/runner-user', // not a secret name
      client_secret: 'lowercase-secret',
    });
    expect(found).toEqual(['lowercase-secret', 'the-token-value', 'pw-0987654321', 'key-123456']);
  });
});

describe('maskTail', () => {
  test('replaces every occurrence of every secret', () => {
    const out = maskTail(Buffer.from('a=hunter2x; b=hunter2x; c=token-abcd'), ['hunter2x', 'token-abcd'], 1000);
    expect(out).toBe(`a=${MASK}; b=${MASK}; c=${MASK}`);
  });

  test('a secret that straddles the cut is dropped whole, not half shown', () => {
    const secret = 'SECRETVALUE';
    const raw = Buffer.from(`xxxx${secret}tail-end`);
    // A 12-byte limit cuts at byte 11, inside the secret: a plain cut would post "ALUEtail-end".
    const out = maskTail(raw, [secret], 12);
    expect(out).toBe('tail-end');
    for (let n = 3; n < secret.length; n++) expect(out.includes(secret.slice(-n))).toBe(false);
  });

  test('does not start with half a UTF-8 character', () => {
    const raw = Buffer.from('ééééé'); // 10 bytes
    expect(maskTail(raw, [], 5)).toBe('éé');
  });
});

describe('JUnit helpers', () => {
  test('globToRegExp: **/ spans directories, * stays within one segment', () => {
    const re = globToRegExp('**/junit*.xml');
    expect(re.test('junit.xml')).toBe(true);
    expect(re.test('reports/junit-unit.xml')).toBe(true);
    expect(re.test('a/b/c/junit.xml')).toBe(true);
    expect(re.test('reports/junit/other.xml')).toBe(false);
    expect(re.test('reports/my-junit.xml')).toBe(false);
    expect(globToRegExp('TEST-?.xml').test('TEST-a.xml')).toBe(true);
    expect(globToRegExp('out.xml').test('outXxml')).toBe(false);
  });

  test('parseJUnit reads a bare <testsuite>, nested suites, and jest-junit style names', () => {
    const xml = `<testsuite name="outer">
      <testcase classname="outer adds" name="outer adds"><failure/></testcase>
      <testsuite name="inner"><testcase name="solo"><skipped message="later"/></testcase><testcase name="ok"/></testsuite>
    </testsuite>`;
    expect(parseJUnit(xml)).toEqual({ total: 3, failed: 1, skipped: 1, failing: ['outer adds'], skippedNames: ['solo'] });
  });

  test('parseJUnit throws on text that is not XML', () => {
    expect(() => parseJUnit('<testsuite><testcase></testsuite>')).toThrow();
  });
});
