// Boots the real Debian 12 kernel (bzImage, 64-bit boot protocol) on the emulator and checks the serial
// log it prints, milestone by milestone. Needs .cache/debian-kernel/vmlinuz (node scripts/fetch-debian-kernel.mjs,
// ~70 MB download): the normal suite never downloads it and skips this test without it.
// Cost: ~4.6 billion guest instructions (4.5 of them in the xz decompressor), 2-4 minutes on this machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { probeBoot, DEFAULT_CMDLINE } from './boot-probe.js';

const cacheDir = new URL('../../../.cache/debian-kernel/', import.meta.url);
const vmlinuz = fileURLToPath(new URL('vmlinuz', cacheDir));
const haveKernel = existsSync(vmlinuz);
const MEM = 512 * 1024 * 1024;
/** The last line every boot reaches today: the BogoMIPS loop needs working timer interrupts (PIT via the 8259). */
const MILESTONE = 'Calibrating delay loop';

test(
  'Debian 12 kernel boots on emu: decompressor, banner, e820 from the loader, 8250 console, timer interrupts',
  {
    skip: !haveKernel && 'no .cache/debian-kernel/vmlinuz (run node scripts/fetch-debian-kernel.mjs to fetch the Debian kernel, ~70 MB)',
    timeout: 420_000,
  },
  async (t) => {
    const version = existsSync(new URL('VERSION', cacheDir)) ? readFileSync(new URL('VERSION', cacheDir), 'utf8').trim() : 'unknown';
    const r = await probeBoot({ kernel: vmlinuz, cmdline: DEFAULT_CMDLINE, memBytes: MEM, seconds: 400, every: 100_000_000, deterministic: false, stopOn: MILESTONE });
    const at = (needle: string): string => {
      const l = r.lines.find((x) => x.text.includes(needle));
      return l ? `${(l.insn / 1e6).toFixed(0)}M insns, ${(l.wallMs / 1000).toFixed(1)} s` : 'never';
    };
    t.diagnostic(`${version}: ${(r.instructions / 1e6).toFixed(0)}M instructions, ${(r.wallMs / 1000).toFixed(1)} s, ${r.mips.toFixed(1)} MIPS; banner at ${at('Linux version')}; "${MILESTONE}" at ${at(MILESTONE)}; stop ${r.stop.kind}`);
    const log = r.serial;
    const tail = log.slice(-1500);

    // The decompressor ran with our boot_params: it honours nokaslr from the command line we placed.
    assert.match(log, /KASLR disabled: 'nokaslr' on cmdline\./, `no decompressor message; serial:\n${tail}`);
    // The decompressed kernel started and its early console printed the banner.
    assert.match(log, /Linux version 6\.1\.\d+-\d+-amd64 \(debian-kernel@lists\.debian\.org\)/, `no Linux banner; serial:\n${tail}`);
    assert.ok(log.includes(`Command line: ${DEFAULT_CMDLINE}`), `kernel did not echo our command line; serial:\n${tail}`);
    // The loader's e820 map for 512 MiB: low RAM below the EBDA, then 1 MiB up to the end of RAM.
    assert.match(log, /BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable/);
    assert.match(log, /BIOS-e820: \[mem 0x0000000000100000-0x000000001fffffff\] usable/);
    assert.match(log, /Memory: \d+K\/523\d{3}K available/);
    // The 8250 driver took over from earlyprintk on our 16550A.
    assert.match(log, /printk: console \[ttyS0\] enabled/, `8250 console never enabled; serial:\n${tail}`);
    // Timer interrupts arrive (jiffies advance), or the delay-loop calibration never starts.
    assert.ok(log.includes(MILESTONE), `kernel stopped before "${MILESTONE}" (stop ${JSON.stringify(r.stop)}); serial:\n${tail}`);
    assert.equal(r.stop.kind, 'host-stop', 'the probe stops the VM itself once the milestone is printed');
  },
);
