// Boots a multiboot kernel on v86 (npm package `v86`, SeaBIOS from Debian's `seabios` package) in this process
// and copies the guest's COM1 output to stdout. v86 has no isa-debug-exit device, so the run ends when the
// serial output contains the `--until` text (a line the guest prints last) or after --timeout seconds.
//   node bench/emu/v86-run.mjs --kernel K --cmdline '...' --until 'loop executed' [--until-count N] [--no-jit] [--timeout 60]
//   node bench/emu/v86-run.mjs --check      (exit 0 when v86 and the BIOS are there)
// --stamps prefixes every output line with "<epoch ms> <process CPU ms>\t", taken when the line's last byte
// left v86's UART (the listener runs inside v86's CPU loop), and ends with "v86-run: maxrss <KiB>" on stderr.
// Exit status: 0 when the marker line arrived, 2 when v86 or the BIOS is missing (reason on stderr), 3 on timeout.
// v86 is resolved as the package `v86` (devDependency of the repo) or from $V86_PATH (a folder holding the package).
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const kernel = opt('--kernel');
const cmdline = opt('--cmdline', '');
const until = opt('--until', 'loop executed');
const untilCount = Math.max(1, Number(opt('--until-count', '1')) | 0); // the run ends at the N-th such line
const timeoutSec = Number(opt('--timeout', '120'));
const jit = !args.includes('--no-jit');
const stamps = args.includes('--stamps');
const biosDir = process.env.SEABIOS_DIR ?? '/usr/share/seabios';

function fail(code, msg) {
  process.stderr.write(`v86-run: ${msg}\n`);
  process.exit(code);
}

/** Loads the v86 module; returns { V86, dir } or throws with a reason. */
async function loadV86() {
  const tried = [];
  if (process.env.V86_PATH) {
    const entry = join(process.env.V86_PATH, 'build', 'libv86.mjs');
    if (existsSync(entry)) return { V86: (await import(pathToFileURL(entry).href)).V86, dir: process.env.V86_PATH };
    tried.push(`$V86_PATH has no build/libv86.mjs (${entry})`);
  }
  try {
    const url = import.meta.resolve('v86');
    const mod = await import(url);
    // url is .../node_modules/v86/build/libv86.mjs
    return { V86: mod.V86, dir: new URL('..', url).pathname };
  } catch (e) {
    tried.push(`npm package v86 not installed (${e.code ?? e.message}): add "v86": "^0.5.462" to devDependencies and run npm install, or set V86_PATH to a folder holding the package`);
  }
  throw new Error(tried.join('; '));
}

let V86, dir;
try {
  ({ V86, dir } = await loadV86());
} catch (e) {
  fail(2, e.message);
}
const bios = join(biosDir, 'bios.bin');
const vgaBios = join(biosDir, 'vgabios.bin');
if (!existsSync(bios) || !existsSync(vgaBios)) fail(2, `SeaBIOS images missing (${bios}, ${vgaBios}): apt-get install seabios`);
if (args.includes('--check')) {
  process.stdout.write(`v86-run: v86 from ${dir}, BIOS from ${biosDir}\n`);
  process.exit(0);
}
if (!kernel) fail(2, 'usage: v86-run.mjs --kernel FILE [--cmdline TEXT] [--until TEXT] [--no-jit] [--timeout SEC] | --check');
const image = (p) => {
  const b = readFileSync(p);
  return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) };
};

const t0 = performance.now();
const emulator = new V86({
  wasm_path: join(dir, 'build', 'v86.wasm'),
  bios: image(bios),
  vga_bios: image(vgaBios),
  multiboot: image(kernel),
  cmdline,
  memory_size: 128 * 1024 * 1024,
  autostart: true,
  disable_jit: !jit,
});
let line = '';
let seen = '';
let seenCount = 0;
const timer = setTimeout(() => {
  process.stdout.write(line);
  fail(3, `no "${until}" within ${timeoutSec} s`);
}, timeoutSec * 1000);
emulator.add_listener('emulator-ready', () => process.stderr.write(`v86-run: ready after ${(performance.now() - t0).toFixed(0)} ms (jit ${jit})\n`));
emulator.add_listener('serial0-output-byte', (byte) => {
  const ch = String.fromCharCode(byte);
  line += ch;
  if (ch !== '\n') return;
  if (stamps) {
    const c = process.cpuUsage();
    process.stdout.write(`${(performance.timeOrigin + performance.now()).toFixed(3)} ${((c.user + c.system) / 1000).toFixed(3)}\t`);
  }
  process.stdout.write(line);
  seen = line;
  line = '';
  if (seen.includes(until) && ++seenCount === untilCount) {
    clearTimeout(timer);
    process.stderr.write(`v86-run: "${until}" after ${(performance.now() - t0).toFixed(0)} ms\n`);
    emulator.destroy();
    if (stamps) process.stderr.write(`v86-run: maxrss ${process.resourceUsage().maxRSS}\n`);
    process.exit(0);
  }
});
