/** The CI check: the committed bundle must be exactly what action/build.mjs makes from the sources. */
import { readFileSync } from 'node:fs';
import { bundleAction, DIST_FILE, DIST_PACKAGE_FILE, DIST_PACKAGE_JSON } from '../../action/build.mjs';

test('action/dist/index.js is up to date with action/src and the shared modules (rebuild: node action/build.mjs)', async () => {
  const fresh = await bundleAction({ write: false });
  const committed = readFileSync(DIST_FILE, 'utf8');
  // Compare lengths first so a stale bundle fails with a short message, not a 1 MB diff.
  expect(committed.length).toBe(fresh.length);
  expect(committed === fresh).toBe(true);
  // Deterministic: no absolute paths of the machine that built it.
  expect(fresh.includes(process.cwd())).toBe(false);
});

test('the bundle is loaded as CommonJS although the repository is "type": "module"', () => {
  expect(readFileSync(DIST_PACKAGE_FILE, 'utf8')).toBe(DIST_PACKAGE_JSON);
  expect(JSON.parse(DIST_PACKAGE_JSON)).toEqual({ type: 'commonjs' });
});
