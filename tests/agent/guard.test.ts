import { isCleanChange, isCiOrLintConfig, isTestFile, removedLinesByFile, reviewChanges } from '../../src/agent/guard.js';

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
])('isTestFile(%s) → %s', (path, expected) => {
  expect(isTestFile(path)).toBe(expected);
});
