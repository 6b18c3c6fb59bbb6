// `npm run bench`: every benchmark, each printing its peers side by side with ratios.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { root } from './lib.mjs';

const only = process.argv.slice(2);
// Emulator speed is emu/realcode.mjs (real code, with the tight loop as one line); emu/mips.mjs (the tight loop
// and sieve/CRC in depth) stays runnable on its own.
const benches = ['kvm/exits.mjs', 'startup.mjs', 'memory.mjs', 'emu/realcode.mjs', 'browser.mjs', 'pmu/overhead.mjs', 'migrate.mjs', 'linux.mjs', 'io.mjs'];
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
