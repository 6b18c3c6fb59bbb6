/**
 * The xz x86 branch converter (BCJ), decoding direction: the encoder turned the rel32 operand
 * of CALL (E8) and JMP (E9) into an absolute address to help compression; this turns them back.
 * Whether a 5-byte candidate is converted depends, as in the encoder, on the operand's top byte
 * being 0x00 or 0xFF and on the recent E8/E9 bytes within the previous three positions (a 3-bit
 * history), so both sides skip the same candidates. The whole buffer is filtered at once; its
 * last four bytes are never a complete candidate and stay as they are.
 */

/** For each 3-bit history of recent E8/E9 bytes: may a candidate be converted at all. */
const HISTORY_ALLOWED = [true, true, true, false, true, false, false, false];
/** For each history: which operand byte (counted from its end) to test, i.e. how far back the last one was. */
const HISTORY_BYTE = [0, 1, 2, 2, 3, 3, 3, 3];

const topByteOk = (b: number) => b === 0x00 || b === 0xff;

export function bcjX86Decode(buf: Uint8Array, startOffset = 0): void {
  const end = buf.length - 4;
  let lastHit = -1; // position of the previous E8/E9 looked at
  let history = 0;
  for (let i = 0; i < end; i++) {
    if ((buf[i]! & 0xfe) !== 0xe8) continue;
    const gap = i - lastHit;
    if (gap > 3) {
      history = 0;
    } else {
      history = (history << (gap - 1)) & 7;
      if (history !== 0) {
        const b = buf[i + 4 - HISTORY_BYTE[history]!]!;
        if (!HISTORY_ALLOWED[history] || topByteOk(b)) {
          lastHit = i;
          history = (history << 1) | 1;
          continue;
        }
      }
    }
    lastHit = i;
    if (!topByteOk(buf[i + 4]!)) {
      history = (history << 1) | 1;
      continue;
    }
    let value = (buf[i + 1]! | (buf[i + 2]! << 8) | (buf[i + 3]! << 16) | (buf[i + 4]! << 24)) >>> 0;
    let rel: number;
    for (;;) {
      rel = (value - ((startOffset + i + 5) >>> 0)) >>> 0;
      if (history === 0) break;
      const shift = HISTORY_BYTE[history]! * 8;
      const b = (rel >>> (24 - shift)) & 0xff;
      if (!topByteOk(b)) break;
      value = (rel ^ (2 ** (32 - shift) - 1)) >>> 0;
    }
    rel &= 0x01ff_ffff;
    if (rel & 0x0100_0000) rel |= 0xff00_0000;
    buf[i + 1] = rel & 0xff;
    buf[i + 2] = (rel >>> 8) & 0xff;
    buf[i + 3] = (rel >>> 16) & 0xff;
    buf[i + 4] = (rel >>> 24) & 0xff;
    i += 4;
  }
}
