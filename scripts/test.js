#!/usr/bin/env node
// Runs membrane's tests with node's test runner: unit tests (no root) and
// privileged tests (root: kernel, namespaces). `--unit` runs only the former.
// Afterwards it checks that the tests left no namespace, link or pin behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const unitOnly = process.argv.includes('--unit');
const filter = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const all = walk(dist).filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)));
const unit = all.filter((f) => !f.endsWith('.priv.test.js'));
const priv = all.filter((f) => f.endsWith('.priv.test.js'));

function netns() {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  } catch {
    return [];
  }
}
function pins() {
  const dir = '/sys/fs/bpf/membrane';
  return existsSync(dir) ? readdirSync(dir) : [];
}
const before = { netns: new Set(netns()), pins: new Set(pins()) };

let failed = false;
function runTests(files, concurrency) {
  if (files.length === 0) return;
  const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) failed = true;
}

runTests(unit, 2);
if (!unitOnly) {
  if (process.getuid?.() !== 0) {
    console.error('privileged tests need root: run `npm test` as root (CI does)');
    process.exit(1);
  }
  runTests(priv, 2);
  const leftNetns = netns().filter((n) => !before.netns.has(n));
  const leftPins = pins().filter((p) => !before.pins.has(p));
  if (leftNetns.length || leftPins.length) {
    console.error(`tests left resources behind: netns [${leftNetns.join(' ')}] pins [${leftPins.join(' ')}]`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
