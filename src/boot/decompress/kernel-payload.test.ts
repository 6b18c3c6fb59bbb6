// The decoders against real compressor output: Debian's xz, lzma, lz4, zstd and gzip, run on an x86
// binary (so the xz x86 BCJ filter has real CALL/JMP operands to undo) padded to several MiB (so LZMA2
// spans many chunks). A missing tool skips its case with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DecompressError, decompressPayload, detectMethod, type DecompressErrorKind } from './kernel-payload.js';
import { crc32, crc64 } from './crc.js';
import { lzmaDecompress } from './lzma-alone.js';
import { xzDecompress } from './xz.js';

/** ~3 MiB: an ELF x86-64 binary twice, then pseudo-random bytes (fixed seed), then zeros. */
function sample(): Uint8Array {
  const bin = new Uint8Array(readFileSync(process.execPath).subarray(0, 1 << 20));
  const out = new Uint8Array(3 * (1 << 20) + 12345);
  out.set(bin, 0);
  out.set(bin, bin.length);
  let x = 0x12345678;
  for (let i = 2 * bin.length; i < 2 * bin.length + 600_000; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
const DATA = sample();

/** The payload the kernel build makes: compressor output plus the decompressed size (LE32), except gzip whose trailer has it. */
function compress(cmd: string, args: string[], appendSize: boolean): Uint8Array | string {
  const r = spawnSync(cmd, args, { input: DATA, maxBuffer: 64 << 20 });
  if (r.error) return `${cmd} not installed (${(r.error as NodeJS.ErrnoException).code}; Debian: apt-get install ${cmd === 'lzma' ? 'xz-utils' : cmd === 'lz4' ? 'lz4' : cmd})`;
  if (r.status !== 0) return `${cmd} failed: ${r.stderr.toString()}`;
  const c = new Uint8Array(r.stdout);
  if (!appendSize) return c;
  const out = new Uint8Array(c.length + 4);
  out.set(c);
  new DataView(out.buffer).setUint32(c.length, DATA.length, true);
  return out;
}

const CASES: [string, string, string[], boolean][] = [
  ['xz', 'xz', ['--format=xz', '--check=crc32', '--x86', '--lzma2=preset=6,dict=1MiB', '-c'], true], // the kernel's xz_wrap.sh
  ['xz', 'xz', ['-6', '-c'], true], // default: CRC-64, no BCJ
  ['xz', 'xz', ['--check=none', '-0', '-c'], true],
  ['lzma', 'lzma', ['-9', '-c'], true],
  ['lz4', 'lz4', ['-l', '-12', '--favor-decSpeed', '-c'], true], // the kernel's cmd_lz4
  ['zstd', 'zstd', ['-19', '-c'], true],
  ['gzip', 'gzip', ['-n', '-9', '-c'], false],
];

for (const [method, cmd, args, appendSize] of CASES) {
  test(`${cmd} ${args.join(' ')}: decompresses to the original bytes`, (t) => {
    const payload = compress(cmd, args, appendSize);
    if (typeof payload === 'string') return t.skip(payload);
    assert.equal(detectMethod(payload), method);
    const t0 = performance.now();
    const r = decompressPayload(payload);
    t.diagnostic(`${method}: ${payload.length} -> ${r.data.length} bytes in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(r.method, method);
    assert.equal(r.data.length, DATA.length);
    assert.ok(Buffer.from(r.data).equals(Buffer.from(DATA)), 'decompressed bytes differ from the original');
  });

  test(`${cmd} ${args.join(' ')}: truncated payloads fail with DecompressError`, (t) => {
    const payload = compress(cmd, args, appendSize);
    if (typeof payload === 'string') return t.skip(payload);
    for (const cut of [payload.length - 4 - 1000, payload.length >> 1, 100]) {
      const p = new Uint8Array(payload.length - (payload.length - cut));
      p.set(payload.subarray(0, cut - 4));
      new DataView(p.buffer).setUint32(cut - 4, DATA.length, true);
      assert.throws(() => decompressPayload(p), (e: unknown) => e instanceof DecompressError && e.kind === 'damaged', `cut at ${cut}`);
    }
  });
}

test('flipped bytes in checked formats (xz CRC, gzip CRC) are caught', (t) => {
  for (const [cmd, args, appendSize] of [['xz', ['--check=crc32', '--x86', '--lzma2', '-c'], true], ['gzip', ['-n', '-c'], false]] as const) {
    const payload = compress(cmd, [...args], appendSize);
    if (typeof payload === 'string') {
      t.diagnostic(payload);
      continue;
    }
    for (const at of [64, payload.length >> 1, payload.length - 40]) {
      const p = payload.slice();
      p[at] = p[at]! ^ 0x10;
      assert.throws(() => decompressPayload(p), (e: unknown) => e instanceof DecompressError && e.kind === 'damaged', `${cmd}: flip at ${at}`);
    }
  }
});

/** A DecompressError of `kind` whose message matches `message`. */
const failure = (kind: DecompressErrorKind, message: RegExp) => (e: unknown) => e instanceof DecompressError && e.kind === kind && message.test(e.message);

test('unsupported and unknown methods are refused with their name', () => {
  assert.throws(() => decompressPayload(Uint8Array.of(0x42, 0x5a, 0x68, 0x39, 0, 0, 0, 0, 1, 0, 0, 0)), failure('unsupported', /compressed with bzip2, which tsvmm cannot decompress/));
  assert.throws(() => decompressPayload(Uint8Array.of(0x89, 0x4c, 0x5a, 0x4f, 0, 0, 0, 0, 1, 0, 0, 0)), failure('unsupported', /compressed with lzo/));
  assert.throws(() => decompressPayload(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), failure('unknown-format', /no compression format/));
});

test('what kind of failure a decompression error is does not depend on its wording', (t) => {
  // An xz stream with a SHA-256 check (valid, but not decoded by tsvmm) is unsupported, not damaged.
  const sha = compress('xz', ['--check=sha256', '-0', '-c'], true);
  if (typeof sha === 'string') t.diagnostic(sha);
  else assert.throws(() => decompressPayload(sha), failure('unsupported', /SHA-256 checks are not supported/));
  // A gzip stream whose trailer's size is smaller than its data: damaged, though the message says neither "corrupt" nor "truncated".
  const gz = compress('gzip', ['-n', '-c'], false);
  if (typeof gz === 'string') return t.diagnostic(gz);
  const p = gz.slice();
  new DataView(p.buffer).setUint32(p.length - 4, DATA.length - 100, true);
  assert.throws(() => decompressPayload(p), failure('damaged', /^gzip data longer than its stated size$/));
});

test('CRC-32 and CRC-64 check values', () => {
  const nine = new TextEncoder().encode('123456789');
  assert.equal(crc32(nine), 0xcbf43926);
  assert.equal(Buffer.from(crc64(nine)).toString('hex'), Buffer.from('995dc9bbdf1939fa', 'hex').reverse().toString('hex'));
});

test('a payload that announces more than the guest can hold is refused before any buffer of that size is made', () => {
  // xz magic, a few junk bytes, and a length field of 400 MiB: refused for a 64 MiB guest, not allocated.
  const p = new Uint8Array(32);
  p.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  new DataView(p.buffer).setUint32(28, 400 * 1024 * 1024, true);
  const rss = process.memoryUsage().rss;
  assert.throws(() => decompressPayload(p, 64 * 1024 * 1024), failure('too-big', /the xz payload decompresses to 419430400 bytes, more than the guest's 67108864 bytes of RAM/));
  assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024);
});

test('damaged lzma and xz data end in a DecompressError or the right length, never another error', (t) => {
  // The LZMA loop reads its input without a per-byte bound check and keeps distances as int32: flips and
  // cuts anywhere must still stop cleanly. (lzma has no check of its own, so a flip may decode "fine".)
  // The decoders are called directly: decompressPayload would turn any other error into a DecompressError.
  const small = DATA.subarray(0, 300_000);
  for (const [cmd, args] of [['lzma', ['-6', '-c']], ['xz', ['--check=crc32', '--x86', '--lzma2=preset=6,dict=64KiB', '-c']]] as const) {
    const r = spawnSync(cmd, args, { input: small, maxBuffer: 64 << 20 });
    if (r.error || r.status !== 0) {
      t.diagnostic(`${cmd} not available: skipped`);
      continue;
    }
    const body = new Uint8Array(r.stdout);
    let s = 5;
    const rnd = (n: number): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % n;
    let failed = 0;
    for (let k = 0; k < 150; k++) {
      const cut = k % 3 === 0 ? 13 + rnd(body.length - 13) : body.length;
      const p = body.slice(0, cut);
      for (let f = 0; f <= k % 4; f++) {
        const at = rnd(cut);
        p[at] = p[at]! ^ (1 << rnd(8));
      }
      try {
        assert.equal((cmd === 'xz' ? xzDecompress : lzmaDecompress)(p, small.length).length, small.length);
      } catch (e) {
        if (!(e instanceof DecompressError)) throw new Error(`${cmd}, damage ${k}: ${(e as Error).stack}`);
        failed++;
      }
    }
    t.diagnostic(`${cmd}: ${failed} of 150 damaged payloads refused`);
    assert.ok(failed > 0);
  }
});
