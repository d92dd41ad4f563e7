/** app.yml: the one list of webhook events and permissions `damascus setup` uses. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { HOOK_SUBSCRIPTIONS } from '../support/giteaSim/webhooks.js';

interface Manifest {
  name: string;
  url: string;
  description: string;
  default_events: string[];
  default_permissions: Record<string, string>;
}

const text = readFileSync('app.yml', 'utf8');
const manifest = parse(text) as Manifest;

const GITEA_EVENT_NAMES = new Set(HOOK_SUBSCRIPTIONS);

test('Probot manifest shape', () => {
  expect(typeof manifest.name).toBe('string');
  expect(typeof manifest.url).toBe('string');
  expect(typeof manifest.description).toBe('string');
});

test('default_events are Gitea subscription names, with no event switched on twice', () => {
  for (const e of manifest.default_events) expect(GITEA_EVENT_NAMES.has(e)).toBe(true);
  expect(new Set(manifest.default_events).size).toBe(manifest.default_events.length);
  // `issues`/`pull_request` would switch on every sub-event; with them, the specific names are redundant.
  const ev = new Set(manifest.default_events);
  if (ev.has('issues')) expect([...ev].filter((e) => e.startsWith('issue_') || e === 'issues_only')).toEqual([]);
  if (ev.has('pull_request')) expect([...ev].filter((e) => e.startsWith('pull_request_'))).toEqual([]);
});

test('the events the bot handles are all subscribed: trigger label, comments, PR close/merge and new commits', () => {
  const ev = new Set(manifest.default_events);
  const covers = (specific: string, group: string): boolean => ev.has(specific) || ev.has(group);
  expect(covers('issue_label', 'issues')).toBe(true);
  expect(covers('issue_comment', 'issues')).toBe(true);
  expect(covers('issues_only', 'issues')).toBe(true);
  expect(covers('pull_request_only', 'pull_request')).toBe(true);
  expect(covers('pull_request_sync', 'pull_request')).toBe(true);
});

test('every event has a comment line saying what the bot does with it', () => {
  const lines = text.split('\n');
  for (const e of manifest.default_events) {
    const at = lines.findIndex((l) => l.trim() === `- ${e}`);
    expect(at).toBeGreaterThan(0);
    expect(lines[at - 1]!.trim().startsWith('#')).toBe(true);
  }
});

test('default_permissions', () => {
  expect(manifest.default_permissions).toEqual({
    issues: 'write',
    pull_requests: 'write',
    contents: 'write',
    statuses: 'write',
    actions: 'write',
    metadata: 'read',
  });
});
