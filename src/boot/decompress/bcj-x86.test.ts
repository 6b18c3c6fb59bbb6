// The x86 BCJ decoder skips aligned words without E8/E9: its result must not depend on where the
// buffer starts (kernel-payload.test.ts checks it against real `xz --x86` output).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bcjX86Decode } from './bcj-x86.js';

/** Bytes dense in E8/E9 and in the 00/FF operand tops the filter looks at, with runs of plain bytes between (seed 7). */
function sample(n: number): Uint8Array {
  let s = 7;
  const rnd = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = rnd() % 16;
    out[i] = r < 2 ? 0xe8 + r : r < 5 ? 0x00 : r < 7 ? 0xff : rnd() & 0xff;
    if (rnd() % 64 === 0) i += rnd() % 40; // a stretch of zeros: whole words without a candidate
  }
  return out;
}

test('bcjX86Decode: the same bytes at every buffer alignment and start offset', () => {
  const data = sample(20_000);
  for (const startOffset of [0, 0x1000, 0xffff_fff0]) {
    let want: Uint8Array | undefined;
    for (let shift = 0; shift < 8; shift++) {
      const host = new Uint8Array(data.length + 8);
      const buf = host.subarray(shift, shift + data.length);
      buf.set(data);
      bcjX86Decode(buf, startOffset);
      if (want === undefined) want = buf.slice();
      else assert.deepEqual(buf, want, `buffer at offset ${shift}, start ${startOffset}`);
    }
    assert.notDeepEqual(want, data, 'some operands were converted');
  }
});

test('bcjX86Decode: short buffers (no word skipping) and the last four bytes stay', () => {
  const b = Uint8Array.of(0xe8, 0x10, 0x00, 0x00, 0x00, 0xe8, 0x01, 0x02, 0x00);
  bcjX86Decode(b, 0);
  // The operand 0x10 becomes relative to the next instruction (0x10 - 5); the second E8 is in the last four bytes.
  assert.deepEqual([...b], [0xe8, 0x0b, 0x00, 0x00, 0x00, 0xe8, 0x01, 0x02, 0x00]);
});
