// `npm run bench`: every benchmark, each printing its peers side by side with ratios.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { root } from './lib.mjs';

const only = process.argv.slice(2);
// Emulator speed is emu/realcode.mjs (real code, with the tight loop as one line); emu/mips.mjs (the tight loop
// and sieve/CRC in depth) stays runnable on its own.
const benches = ['kvm/exits.mjs', 'startup.mjs', 'memory.mjs', 'emu/realcode.mjs', 'browser.mjs', 'pmu/overhead.mjs', 'migrate.mjs', 'linux.mjs', 'io.mjs'];
const names = benches.map((b) => b.replace(/\.mjs$/, ''));
if (only.some((o) => o.startsWith('-'))) {
  const flag = only.find((o) => o.startsWith('-'));
  if (flag !== '--help' && flag !== '-h') console.error(`bench: unknown option ${flag}`);
  console.log(`usage: npm run bench [-- NAME...]   (a NAME picks the benchmarks whose path contains it)\nbenchmarks: ${names.join(', ')}`);
  process.exit(flag === '--help' || flag === '-h' ? 0 : 2);
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
  const r = spawnSync(process.execPath, [path], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
