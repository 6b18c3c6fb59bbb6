/**
 * Real-code differential test: the realcode kernels (guests/realcode/: sha256, qsort, a bytecode VM, LZSS,
 * hash tables, string and memory functions, JSON, Huffman, an AST interpreter, CRCs, glob/regex, string sort,
 * bignum, malloc) at their quick size, in the 32-bit and the 64-bit guest on --accel emu, must print the
 * checksums the same C prints when compiled by the same gcc as a host program and run on the host CPU.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { guestPath, repoRoot, runCli } from './guest-runner.js';

const nativeBin = join(repoRoot, 'guests', 'build', 'realcode-native');
const KERNEL_LINE = /^realcode: (\S+) n=(\d+) checksum ([0-9a-f]{8})\r?$/;

/** kernel name -> "n=N checksum X", in order, from the suite's output. */
function checksums(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const k = KERNEL_LINE.exec(line);
    if (k) m.set(k[1]!, `n=${k[2]} checksum ${k[3]}`);
  }
  return m;
}

function missing(): string | false {
  for (const f of [nativeBin, guestPath('realcode'), guestPath('realcode64')]) {
    if (!existsSync(f)) return `${f} is not built (node scripts/build-guests.mjs realcode realcode64 builds it with gcc)`;
  }
  return false;
}

describe('realcode: emu checksums equal the host CPU running the same C', { concurrency: true }, () => {
  const skip = missing();
  let native: Map<string, string> | undefined;
  const nativeSums = (): Map<string, string> => {
    if (!native) {
      const out = execFileSync(nativeBin, ['--quick'], { encoding: 'utf8', timeout: 60_000 });
      native = checksums(out);
      assert.ok(native.size >= 10, `the host program printed too few kernels:\n${out}`);
      assert.ok(!out.includes('FAIL'), `the host program failed a kernel self-check:\n${out}`);
    }
    return native;
  };
  for (const guest of ['realcode', 'realcode64']) {
    test(`emu: ${guest} quick`, { skip, timeout: 125_000 }, async () => {
      const want = nativeSums();
      const r = await runCli(['run', '--kernel', guestPath(guest), '--accel', 'emu', '--serial', 'stdio', '--mem', '128M', '--cmdline', 'quick'], { timeoutMs: 120_000 });
      assert.equal(r.timedOut, false, `timed out; stdout: ${JSON.stringify(r.stdout.slice(-300))} stderr: ${r.stderr}`);
      const got = checksums(r.stdout);
      const bad = [...want].filter(([k, v]) => got.get(k) !== v).map(([k, v]) => `  ${k}: host ${v}, emu ${got.get(k) ?? '(no line)'}`);
      assert.deepEqual(bad, [], `${guest}: kernels whose checksum differs from the host CPU's:\n${bad.join('\n')}\nguest output:\n${r.stdout}stderr: ${r.stderr}`);
      assert.equal(got.size, want.size, `${guest}: the guest printed kernels the host program did not:\n${r.stdout}`);
      assert.equal(r.status, 1, `${guest}: exit status (1 = every self-check passed); output:\n${r.stdout}stderr: ${r.stderr}`);
    });
  }
});
