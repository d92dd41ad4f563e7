import { isCleanChange, isCiOrLintConfig, isTestFile, isTestRunnerConfig, removedLinesByFile, reviewChanges } from '../../src/agent/guard.js';

const DIFF = `diff --git a/src/app.ts b/src/app.ts
index 1111111..2222222 100644
--- a/src/app.ts
+++ b/src/app.ts
@@ -1,3 +1,3 @@
-export const expectValue = 1; // not a test file
+export const expectValue = 2;
diff --git a/tests/app.test.ts b/tests/app.test.ts
index 3333333..4444444 100644
--- a/tests/app.test.ts
+++ b/tests/app.test.ts
@@ -10,4 +10,4 @@ test('x', () => {
-  expect(add(1, 1)).toBe(2);
+  expect(add(1, 1)).toBeDefined();
 });
diff --git a/tests/new.test.ts b/tests/new.test.ts
new file mode 100644
--- /dev/null
+++ b/tests/new.test.ts
@@ -0,0 +1,2 @@
+expect(1).toBe(1);
diff --git a/test_old.py b/test_old.py
deleted file mode 100644
--- a/test_old.py
+++ /dev/null
@@ -1,2 +0,0 @@
-def test_x():
-    assert x == 1
diff --git a/pkg/util_test.go b/pkg/util_test.go
--- a/pkg/util_test.go
+++ b/pkg/util_test.go
@@ -3,2 +3,3 @@
-// old comment
+// new comment
+func helper() {}
`;

test('removed lines are attributed to their file, including deleted files', () => {
  const removed = removedLinesByFile(DIFF);
  expect(removed.get('tests/app.test.ts')).toEqual(['  expect(add(1, 1)).toBe(2);']);
  expect(removed.get('test_old.py')).toEqual(['def test_x():', '    assert x == 1']);
  expect(removed.has('tests/new.test.ts')).toBe(false);
});

test('reviewChanges flags out-of-scope files, CI/lint config and weakened assertions', () => {
  const r = reviewChanges({
    changedFiles: ['src/app.ts', 'tests/app.test.ts', 'tests/new.test.ts', 'test_old.py', 'pkg/util_test.go', '.gitea/workflows/ci.yml', 'eslint.config.js'],
    diffText: DIFF,
    scope: ['src/', 'tests/', 'pkg/'],
  });
  expect(r.outOfScope).toEqual(['test_old.py', '.gitea/workflows/ci.yml', 'eslint.config.js']);
  expect(r.touchesCi).toEqual(['.gitea/workflows/ci.yml', 'eslint.config.js']);
  // A changed assertion and a deleted test file count; a new test file and a comment-only change do not.
  expect(r.weakenedAssertions).toEqual(['tests/app.test.ts', 'test_old.py']);
  expect(isCleanChange(r)).toBe(false);
});

test('a change inside scope that only adds tests is clean', () => {
  const diff = DIFF.slice(DIFF.indexOf('diff --git a/tests/new.test.ts'), DIFF.indexOf('diff --git a/test_old.py'));
  const r = reviewChanges({ changedFiles: ['src/a.ts', 'tests/new.test.ts'], diffText: diff, scope: ['src/', 'tests/'] });
  expect(r).toEqual({ outOfScope: [], touchesCi: [], weakenedAssertions: [], testConfig: [], skippedTests: [] });
  expect(isCleanChange(r)).toBe(true);
});

test.each([
  ['.github/workflows/x.yaml', true],
  ['.gitea/damascus.yml', true],
  ['.eslintrc.json', true],
  ['web/.prettierrc', true],
  ['tsconfig.build.json', true],
  ['biome.json', true],
  ['src/eslint-helpers.ts', false],
  ['docs/workflows/x.md', false],
])('isCiOrLintConfig(%s) → %s', (path, expected) => {
  expect(isCiOrLintConfig(path)).toBe(expected);
});

test.each([
  ['src/a.test.ts', true],
  ['src/a.spec.js', true],
  ['pkg/a_test.go', true],
  ['test_a.py', true],
  ['tests/helpers/x.ts', true],
  ['src/__tests__/x.js', true],
  ['src/attest.ts', false],
  ['src/contest/a.ts', false],
  // tests outside the *.test.* names: test folders of every common kind, JVM/.NET names, snapshots
  ['test/helpers.js', true],
  ['spec/models/user_spec.rb', true],
  ['pkg/testdata/golden.json', true],
  ['e2e/login.ts', true],
  ['src/__snapshots__/a.snap', true],
  ['src/main/java/FooTest.java', true],
  ['Foo.Tests/BarTests.cs', true],
  ['src/latest.ts', false],
])('isTestFile(%s) → %s', (path, expected) => {
  expect(isTestFile(path)).toBe(expected);
});

/** A one-file diff adding and removing the given lines. */
function diffOf(path: string, added: string[], removed: string[] = []): string {
  return [
    `diff --git a/${path} b/${path}`,
    'index 1111111..2222222 100644',
    `--- a/${path}`,
    `+++ b/${path}`,
    '@@ -1,9 +1,9 @@',
    ...removed.map((l) => `-${l}`),
    ...added.map((l) => `+${l}`),
    '',
  ].join('\n');
}
const review = (path: string, added: string[], removed: string[] = [], extra: Partial<Parameters<typeof reviewChanges>[0]> = {}) =>
  reviewChanges({ changedFiles: [path], diffText: diffOf(path, added, removed), scope: ['**/*.ts', path], allowCatchAllScope: false, ...extra });

test.each([
  'jest.config.js',
  'web/vitest.config.mts',
  'vitest.workspace.ts',
  '.mocharc.yml',
  'karma.conf.js',
  'playwright.config.ts',
  'pytest.ini',
  'setup.cfg',
  'tox.ini',
  'tests/conftest.py',
  'noxfile.py',
  '.coveragerc',
  'phpunit.xml.dist',
  'phpunit.xml',
  '.rspec',
  '.nycrc.json',
  'jest.setup.ts',
  '.config/nextest.toml',
  'go-test.flags',
])('attack: changing test-runner config %s (in scope or not) needs a writer', (path) => {
  expect(isTestRunnerConfig(path)).toBe(true);
  const r = review(path, ['anything']);
  expect(r.testConfig).toEqual([path]);
  expect(isCleanChange(r)).toBe(false);
});

test('attack: package.json scripts.test (and pre/post test scripts, runner config) changed → needs a writer; a dependency bump does not', () => {
  for (const line of ['    "test": "true",', '    "pretest": "exit 0",', '    "test:unit": "echo ok",', '  "jest": { "testMatch": [] },', '  "scripts": {}']) {
    expect(review('package.json', [line], ['    "test": "jest"']).testConfig).toEqual(['package.json']);
  }
  expect(review('web/package.json', ['    "test": "true"']).testConfig).toEqual(['web/package.json']);
  expect(review('package.json', ['    "left-pad": "^1.3.1",'], ['    "left-pad": "^1.3.0",']).testConfig).toEqual([]);
});

test('attack: pyproject.toml pytest settings changed → needs a writer; other settings do not', () => {
  expect(review('pyproject.toml', ['addopts = "-k nothing"']).testConfig).toEqual(['pyproject.toml']);
  expect(review('pyproject.toml', ['[tool.pytest.ini_options]']).testConfig).toEqual(['pyproject.toml']);
  expect(review('pyproject.toml', ['version = "1.2.0"']).testConfig).toEqual([]);
});

test('attack: the script the test command runs, or the Makefile of `make test`, is test configuration; a file it only reads is not', () => {
  expect(review('scripts/test.sh', ['exit 0'], [], { testCommand: 'bash scripts/test.sh --ci' }).testConfig).toEqual(['scripts/test.sh']);
  expect(review('run-tests.sh', ['exit 0'], [], { testCommand: './run-tests.sh && echo done' }).testConfig).toEqual(['run-tests.sh']);
  expect(review('Makefile', ['test:', '\ttrue'], [], { testCommand: 'make test' }).testConfig).toEqual(['Makefile']);
  expect(review('greeting.txt', ['hello'], [], { testCommand: 'test "$(cat greeting.txt)" = hello' }).testConfig).toEqual([]);
  expect(review('lang.txt', ['english'], [], { testCommand: 'grep -qx english lang.txt' }).testConfig).toEqual([]);
});

test.each([
  ['src/a.test.ts', "it.skip('adds', () => {"],
  ['src/a.test.ts', "describe.skip('math', () => {"],
  ['src/a.test.ts', "xit('adds', () => {"],
  ['src/a.test.ts', "xdescribe('math', () => {"],
  ['src/a.test.ts', "test.todo('adds')"],
  ['src/a.test.ts', "it.only('the one test that passes', () => {"],
  ['src/a.test.ts', "fit('focused', () => {"],
  ['src/a.test.ts', '  this.skip();'],
  ['tests/test_a.py', '@pytest.mark.skip(reason="flaky")'],
  ['tests/test_a.py', '@pytest.mark.skipif(True, reason="x")'],
  ['tests/test_a.py', '    pytest.skip("later")'],
  ['tests/test_a.py', '@unittest.skip("later")'],
  ['pkg/a_test.go', '\tt.Skip("flaky")'],
  ['src/test/java/FooTest.java', '  @Disabled'],
  ['src/lib.rs', '#[ignore]'],
  ['tests/FooTest.php', '        $this->markTestSkipped("later");'],
  ['tests/a.test.ts', "Deno.test({ name: 'x', skip: true, fn() {} })"],
  ['spec/a_spec.rb', "    skip 'not now'"],
])('attack: a skip marker added in %s (%s) needs a writer', (path, line) => {
  const r = review(path, [line]);
  expect(r.skippedTests).toEqual([path]);
  expect(isCleanChange(r)).toBe(false);
});

test('skip markers only count when added; `skip:` counts in test files only; a removed it.skip is fine', () => {
  expect(review('src/a.test.ts', ["it('adds', () => {"], ["it.skip('adds', () => {"]).skippedTests).toEqual([]);
  expect(review('src/options.ts', ['const o = { skip: true };']).skippedTests).toEqual([]);
  expect(review('src/a.test.ts', ['const o = { skip: true };']).skippedTests).toEqual(['src/a.test.ts']);
});

test('attack: a Go check removed, or a test file deleted whatever it held, is a weakened test', () => {
  expect(review('pkg/a_test.go', ['\t_ = got'], ['\t\tt.Errorf("got %v", got)']).weakenedAssertions).toEqual(['pkg/a_test.go']);
  const deletion = [
    'diff --git a/tests/b.test.ts b/tests/b.test.ts',
    'deleted file mode 100644',
    '--- a/tests/b.test.ts',
    '+++ /dev/null',
    '@@ -1 +0,0 @@',
    '-run();',
    '',
  ].join('\n');
  expect(reviewChanges({ changedFiles: ['tests/b.test.ts'], diffText: deletion, scope: ['tests/'] }).weakenedAssertions).toEqual(['tests/b.test.ts']);
});

test('attack: assertions removed from a test outside the *.test.* names (test/, testdata/) are weakened tests', () => {
  expect(review('test/helpers/check.js', ['  return true;'], ['  assert.equal(a, b);']).weakenedAssertions).toEqual(['test/helpers/check.js']);
});

test.each(['.', '**', '*', '/', '**/*', './**', '*/**'])('attack: a catch-all Scope %s covers nothing unless the repo allows it', (scope) => {
  const files = ['src/app.ts', '.github/dependabot.yml', 'package-lock.json'];
  const diffText = files.map((f) => diffOf(f, ['x'])).join('');
  expect(reviewChanges({ changedFiles: files, diffText, scope: [scope] }).outOfScope).toEqual(files);
  expect(reviewChanges({ changedFiles: files, diffText, scope: [scope], allowCatchAllScope: true }).outOfScope).toEqual(
    scope === '*' ? ['src/app.ts', '.github/dependabot.yml'] : scope === '*/**' ? ['package-lock.json'] : [],
  );
});
