/** The JUnit reports the test command (PR code) wrote, as the Action (root) reads them. */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findJUnitFiles, summarizeJUnit } from '../../action/src/junit.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'damascus-junit-'));
  dirs.push(d);
  return d;
};
const report = (name: string) => `<testsuite><testcase classname="c" name="${name}"><failure/></testcase></testsuite>`;

test('ATTACK: a report that is a symlink (to a file only root may read) is neither found nor read', () => {
  const outside = dir();
  const secret = join(outside, 'root-only.xml');
  writeFileSync(secret, report('secret-from-outside'), { mode: 0o600 });
  const ws = dir();
  symlinkSync(secret, join(ws, 'junit.xml'));
  expect(findJUnitFiles(ws, '**/junit*.xml', 0)).toEqual([]);
  // Swapped in after the walk: the read does not follow it either.
  const warnings: string[] = [];
  expect(summarizeJUnit([join(ws, 'junit.xml')], (m) => warnings.push(m))).toBeNull();
  expect(warnings.join('\n')).toMatch(/ELOOP/);
});

test("a very long test name is cut (the posted result must stay under the orchestrator's size limit)", () => {
  const ws = dir();
  writeFileSync(join(ws, 'junit.xml'), report('x'.repeat(10_000)));
  const sum = summarizeJUnit([join(ws, 'junit.xml')], () => {});
  expect(sum!.failing[0]).toBe(`c.${'x'.repeat(498)}…`);
});
