// tsvmm in Chromium against tsvmm in Node and v86 in the same Chromium, on the same real-code guest
// (guests/realcode/, the 32-bit build, since v86 is 32-bit only): the wall time from the guest's
// "realcode: start" line to its "realcode: total" line, and MIPS from Node's exact instruction count over
// that window (the guest's code and so its instruction count are the same on every engine).
// Chromium is Debian's (scripts/setup.mjs --test/--bench installs it), driven by playwright-core; tsvmm runs
// in a Worker exactly as the page runs it. Also: the browser's run loop on setTimeout(0) against
// MessageChannel and scheduler.postTask, to show what a clamped yield costs.
//   node bench/browser.mjs [--rounds 3] [--quick] [--no-v86] [--no-schedulers]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { root, median, printTable, benchArgs } from './lib.mjs';

const { values: opt } = benchArgs('bench/browser.mjs', {
  options: {
    rounds: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    'no-v86': { type: 'boolean', default: false },
    'no-schedulers': { type: 'boolean', default: false },
  },
});
const rounds = Math.max(1, Number(opt.rounds) | 0);
const cmdline = opt.quick ? 'quick scale=1' : 'scale=1';
const log = (m) => process.stderr.write(`browser-bench: ${m}\n`);
const skip = (why) => {
  console.log(`browser: skipped: ${why}`);
  process.exit(0);
};

const elf = join(root, 'guests', 'build', 'realcode.elf');
if (!existsSync(elf)) skip(`${elf} missing (node scripts/build-guests.mjs)`);
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.CHROMIUM_PATH].find((p) => p && existsSync(p));
if (!chromium) skip("no chromium (node scripts/setup.mjs --bench installs Debian's chromium)");
let pw;
try {
  pw = await import('playwright-core');
} catch (e) {
  skip(`playwright-core not installed (${e.code ?? e.message}): npm ci`);
}
const machineJs = join(root, 'dist', 'src', 'vmm', 'emu-machine.js');
if (!existsSync(machineJs)) skip('dist/ missing: npm run build');
const { createEmuMachine } = await import(pathToFileURL(machineJs).href);
const { buildWeb, serveWeb } = await import(pathToFileURL(join(root, 'scripts', 'web.mjs')).href);
const { readFileSync } = await import('node:fs');
const haveBios = existsSync('/usr/share/seabios/bios.bin') && existsSync('/usr/share/seabios/vgabios.bin');

/** tsvmm in this Node process: line stamps with the instruction count when each line left the UART. */
async function runNode() {
  const marks = [];
  let line = '';
  let m;
  const sink = {
    write(bytes) {
      for (const c of bytes) {
        if (c === 10) {
          marks.push({ text: line, ms: performance.now() });
          if (line.includes('realcode: total')) m.vm.requestStop({ kind: 'host-stop', reason: 'bench done' });
          line = '';
        } else if (c !== 13) line += String.fromCharCode(c);
      }
    },
  };
  m = createEmuMachine({ kernel: { name: 'realcode.elf', data: new Uint8Array(readFileSync(elf)) }, memBytes: 128 << 20, cpus: 1, cmdline, serial: sink });
  await m.vm.run();
  // Stopped right after the total line: the whole run's count (the few before the start line included).
  const r = { marks, runMs: m.vm.runMs, instructions: m.vm.exitCounts().instructions, yields: m.vm.hostTime.yields, yieldMs: m.vm.hostTime.yieldMs, scheduler: m.vm.scheduler.name };
  m.devices.destroy();
  m.vm.destroy();
  return r;
}

/** ms from the start line to the total line, or undefined. */
function window(marks) {
  const s = marks.find((x) => x.text.startsWith('realcode: start'));
  const t = marks.find((x) => x.text.startsWith('realcode: total'));
  return s && t ? { ms: t.ms - s.ms, checksum: t.text.split(' ').pop() } : undefined;
}

log(`building and serving the page; chromium ${chromium}; guest cmdline "${cmdline}"; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
await buildWeb({ quiet: true });
const { server, url } = await serveWeb({ port: 0, quiet: true });
const browser = await pw.chromium.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
const page = await browser.newPage();
const errors = [];
page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
page.on('pageerror', (e) => errors.push(e.message));
await page.goto(`${url}bench.html`);
const inPage = (q) => page.evaluate((q) => globalThis.runBench(q), q);
const kernelUrl = '/images/realcode.elf';

const res = { node: [], chromium: [], v86: [] };
const schedRes = {};
let insns;
let checksum;
for (let r = 0; r < rounds; r++) {
  const n = await runNode();
  const wn = window(n.marks);
  if (!wn) throw new Error('node: no start/total lines');
  insns = n.instructions;
  checksum = wn.checksum;
  res.node.push(wn.ms);
  const c = await inPage({ engine: 'tsvmm', kernelUrl, cmdline, until: 'realcode: total' });
  if (c.error) throw new Error(`chromium: ${c.error}`);
  const wc = window(c.marks);
  if (wc.checksum !== checksum) throw new Error(`chromium: checksum ${wc.checksum}, node ${checksum}`);
  res.chromium.push(wc.ms);
  let v86ms = NaN;
  if (!opt['no-v86'] && haveBios) {
    const v = await inPage({ engine: 'v86', kernelUrl, cmdline, until: 'realcode: total', jit: true });
    const wv = v.error ? undefined : window(v.marks);
    if (!wv) log(`v86: ${v.error ?? 'no start/total lines'}`);
    else {
      if (wv.checksum !== checksum) log(`v86: checksum ${wv.checksum} differs from tsvmm's ${checksum}`);
      res.v86.push(wv.ms);
      v86ms = wv.ms;
    }
  }
  log(`round ${r + 1}: node ${wn.ms.toFixed(0)} ms, chromium ${wc.ms.toFixed(0)} ms (${c.scheduler}: ${c.yields} yields, ${c.yieldMs.toFixed(0)} ms yielding), v86 ${v86ms.toFixed(0)} ms; load ${loadavg()[0].toFixed(2)}`);
}
if (!opt['no-schedulers']) {
  for (const s of ['message-channel', 'post-task', 'timeout']) {
    const c = await inPage({ engine: 'tsvmm', kernelUrl, cmdline, until: 'realcode: total', scheduler: s });
    if (c.error) {
      log(`${s}: ${c.error}`);
      continue;
    }
    schedRes[s] = { ms: window(c.marks).ms, yields: c.yields, yieldMs: c.yieldMs, runMs: c.runMs, name: c.scheduler };
  }
}
await browser.close();
server.close();
if (errors.length) log(`page errors: ${errors.join('; ')}`);

const mips = (ms) => (insns / ms / 1000).toFixed(1);
const spread = (xs) => (xs.length > 1 ? `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}` : '');
const nodeMed = median(res.node);
const rows = [['engine', 'median ms', 'spread ms', 'MIPS', 'vs tsvmm in Node']];
rows.push(['tsvmm emu, Node (same process)', nodeMed.toFixed(0), spread(res.node), mips(nodeMed), '1.00x']);
const cMed = median(res.chromium);
rows.push(['tsvmm emu, Chromium Worker', cMed.toFixed(0), spread(res.chromium), mips(cMed), `${(nodeMed / cMed).toFixed(2)}x`]);
if (res.v86.length) {
  const vMed = median(res.v86);
  rows.push(['v86 (JIT), Chromium page', vMed.toFixed(0), spread(res.v86), mips(vMed), `${(nodeMed / vMed).toFixed(2)}x`]);
}
printTable(`realcode.elf "${cmdline}", ${(insns / 1e6).toFixed(0)} M instructions (exact, the whole run) (checksum ${checksum}), ${rounds} round(s); load now ${loadavg().map((x) => x.toFixed(2)).join(' ')}`, rows);
if (Object.keys(schedRes).length) {
  const srows = [['run loop yields with', 'ms start->total', 'yields', 'mean yield', 'share of run spent yielding']];
  for (const v of Object.values(schedRes)) srows.push([v.name, v.ms.toFixed(0), String(v.yields), `${((v.yieldMs / Math.max(1, v.yields)) * 1000).toFixed(0)} us`, `${((100 * v.yieldMs) / v.runMs).toFixed(1)}%`]);
  printTable('Chromium Worker: the cost of the yield (one run each)', srows);
}
const ratio = nodeMed / cMed;
console.log(`\nChromium/Node speed ${ratio.toFixed(2)}x (target >= 0.90x): ${ratio >= 0.9 ? 'met' : 'NOT met'}`);
