// `npm run bench`: every benchmark, each printing its peers side by side with ratios.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { root } from './lib.mjs';

// Names pick benchmarks; everything from the first option on goes to each benchmark picked
// (`npm run bench -- linux --rounds 2`).
const args = process.argv.slice(2);
const firstOption = args.findIndex((a) => a.startsWith('-'));
const only = firstOption < 0 ? args : args.slice(0, firstOption);
const passOn = firstOption < 0 ? [] : args.slice(firstOption);
// Emulator speed is emu/realcode.mjs (real code, with the tight loop as one line); emu/mips.mjs (the tight loop
// and sieve/CRC in depth) stays runnable on its own.
const benches = ['kvm/exits.mjs', 'startup.mjs', 'memory.mjs', 'emu/realcode.mjs', 'emu/decode.mjs', 'browser.mjs', 'pmu/overhead.mjs', 'migrate.mjs', 'linux.mjs', 'io.mjs'];
const names = benches.map((b) => b.replace(/\.mjs$/, ''));
const usage = `usage: npm run bench [-- NAME... [OPTION...]]   (a NAME picks the benchmarks whose path contains it; options go to each one picked, e.g. npm run bench -- linux --help)\nbenchmarks: ${names.join(', ')}`;
if (only.length === 0 && passOn.length > 0) {
  const help = passOn[0] === '--help' || passOn[0] === '-h';
  if (!help) console.error(`bench: ${passOn[0]} goes after a benchmark's name (options are that benchmark's own)`);
  console.log(usage);
  process.exit(help ? 0 : 2);
}
const unknown = only.filter((o) => !benches.some((b) => b.includes(o)));
if (unknown.length > 0) {
  console.error(`bench: no benchmark matches ${unknown.join(', ')}; the benchmarks: ${names.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const b of benches) {
  if (only.length && !only.some((o) => b.includes(o))) continue;
  const path = join(root, 'bench', b);
  if (!existsSync(path)) continue;
  console.log(`\n### bench/${b}`);
  const r = spawnSync(process.execPath, [path, ...passOn], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
