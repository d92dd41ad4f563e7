import { parseDependencies } from '../../src/domain/gates.js';

const self = { owner: 'acme', name: 'shop', number: 9 };
const deps = (body: string) => parseDependencies(body, self).map((d) => `${d.owner}/${d.name}#${d.number}`);

describe('parseDependencies', () => {
  test('same-repo reference', () => {
    expect(parseDependencies('Depends on #12', self)).toEqual([{ owner: 'acme', name: 'shop', number: 12 }]);
  });

  test('cross-repo reference keeps its owner/name', () => {
    expect(parseDependencies('depends on other-org/lib.js#5', self)).toEqual([{ owner: 'other-org', name: 'lib.js', number: 5 }]);
  });

  test('a list after "Depends on:" with commas, "and", "&" and mixed repos', () => {
    expect(deps('Depends on: #3, #4 and acme/api#7 & #8')).toEqual(['acme/shop#3', 'acme/shop#4', 'acme/api#7', 'acme/shop#8']);
  });

  test('case-insensitive, mid-sentence, "depends-on", several phrases on several lines', () => {
    expect(deps('This DEPENDS ON #2.\nAlso it depends-on #3, and\nnothing else depends on nothing.')).toEqual(['acme/shop#2', 'acme/shop#3']);
  });

  test('duplicates are dropped (owner/name compared case-insensitively)', () => {
    expect(deps('Depends on #4\ndepends on acme/shop#4\nDepends on ACME/Shop#4, #4')).toEqual(['acme/shop#4']);
  });

  test('never depends on itself, in either spelling', () => {
    expect(deps('Depends on #9, acme/shop#9, Acme/SHOP#9, #10')).toEqual(['acme/shop#10']);
    // The same number in another repo is a different issue.
    expect(deps('Depends on acme/api#9')).toEqual(['acme/api#9']);
  });

  test('quoted lines and code blocks are ignored', () => {
    expect(deps('> Depends on #1\n```\nDepends on #2\n```\n~~~\ndepends on #3\n~~~\nDepends on #4')).toEqual(['acme/shop#4']);
  });

  test('not dependencies: other phrasing, #0, glued text, no number', () => {
    expect(deps('Related to #5. Blocks #6. See #7.')).toEqual([]);
    expect(deps('Depends on #0')).toEqual([]);
    expect(deps('Depends on #12abc')).toEqual([]);
    expect(deps('Depends on the release')).toEqual([]);
    expect(deps('independs on #3')).toEqual([]);
  });

  test('without our own number nothing is treated as self', () => {
    expect(parseDependencies('Depends on #9', { owner: 'acme', name: 'shop' })).toEqual([{ owner: 'acme', name: 'shop', number: 9 }]);
  });

  test('an empty body has no dependencies', () => {
    expect(parseDependencies('', self)).toEqual([]);
  });
});
