#!/usr/bin/env node
// Adds to package-lock.json the other platforms' optional native packages that npm left out.
//
// Why: the npm registry mirror on our build machines serves only some platforms' binaries (it answers
// 404 for e.g. @swc/core-darwin-arm64), so npm 11 writes a lock file without them, and `npm ci` then
// refuses that same lock file ("Missing: @swc/core-darwin-arm64@ from lock file"). Each added entry
// carries the version its parent pins and the os/cpu/libc its name states, which is all `npm ci` needs
// to skip it here; on a platform that needs it, npm fetches it by name and version.
//
// Run after any `npm install` that rewrote the lock file: node scripts/lock-foreign-platforms.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openharmony'];
/** Names some packages use for an os (opencode's "opencode-windows-x64" is npm's win32). */
const OS_ALIAS = { windows: 'win32' };
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'loong64', 'riscv64'];
const LIBC = { gnu: 'glibc', gnueabihf: 'glibc', musl: 'musl', musleabihf: 'musl' };

/** os/cpu/libc from a platform package's name, e.g. "@swc/core-linux-arm-gnueabihf". */
export function platformOf(name) {
  const tokens = name.split('/').pop().split('-');
  const os = tokens.map((t) => OS_ALIAS[t] ?? t).find((t) => OS.includes(t));
  const cpu = tokens.find((t) => CPU.includes(t));
  const libc = tokens.map((t) => LIBC[t]).find(Boolean);
  if (!os || !cpu) return undefined;
  return { os, cpu, libc };
}

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const added = [];
for (const [key, pkg] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const at = `node_modules/${name}`;
    if (lock.packages[at] || lock.packages[`${key}/${at}`]) continue;
    const platform = platformOf(name);
    if (!platform || !/^\d+\.\d+\.\d+$/.test(version)) continue; // only exact, platform-named pins
    lock.packages[at] = {
      version,
      cpu: [platform.cpu],
      ...(pkg.dev ? { dev: true } : {}),
      ...(platform.libc ? { libc: [platform.libc] } : {}),
      optional: true,
      os: [platform.os],
    };
    added.push(`${name}@${version}`);
  }
}
// npm keeps the packages map sorted by path; so do we, so that its next rewrite is a small diff.
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length ? `added ${added.length}: ${added.join(', ')}` : 'nothing to add');
