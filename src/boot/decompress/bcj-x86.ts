/**
 * The xz x86 branch converter (BCJ), decoding direction: the encoder turned the rel32 operand
 * of CALL (E8) and JMP (E9) into an absolute address to help compression; this turns them back.
 * Whether a 5-byte candidate is converted depends, as in the encoder, on the operand's top byte
 * being 0x00 or 0xFF and on the recent E8/E9 bytes within the previous three positions (a 3-bit
 * history), so both sides skip the same candidates. The whole buffer is filtered at once; its
 * last four bytes are never a complete candidate and stay as they are.
 *
 * Under 1% of a kernel's bytes are E8 or E9, so the scan skips whole aligned 32-bit words that hold
 * neither (one test per word instead of four) and looks at single bytes only around them.
 */

/** For each 3-bit history of recent E8/E9 bytes: may a candidate be converted at all. */
const HISTORY_ALLOWED = [true, true, true, false, true, false, false, false];
/** For each history: which operand byte (counted from its end) to test, i.e. how far back the last one was. */
const HISTORY_BYTE = [0, 1, 2, 2, 3, 3, 3, 3];

const topByteOk = (b: number) => b === 0x00 || b === 0xff;

/** Typed arrays use the host's byte order; the word test below does not care which, but is only used where it is known. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** True when none of the word's four bytes is E8 or E9: bit 0 masked, XOR E8 leaves a zero byte exactly there. */
function noCallOrJump(w: number): boolean {
  const v = (w ^ 0xe8e8e8e8) & 0xfefefefe;
  return ((v - 0x01010101) & ~v & 0x80808080) === 0;
}

export function bcjX86Decode(buf: Uint8Array, startOffset = 0): void {
  const end = buf.length - 4;
  let lastHit = -1; // position of the previous E8/E9 looked at
  let history = 0;
  // Bytes [align, align + 4 * words.length) as aligned words, for skipping.
  const align = (4 - (buf.byteOffset & 3)) & 3;
  const words = LITTLE_ENDIAN && buf.length >= 64 ? new Int32Array(buf.buffer, buf.byteOffset + align, (buf.length - align) >>> 2) : new Int32Array(0);
  const nWords = words.length;
  for (let i = 0; i < end; i++) {
    if ((buf[i]! & 0xfe) !== 0xe8) {
      // At the last byte of a word: skip the following words without a candidate (positions past `end` are never converted).
      if (((i - align) & 3) === 3 && i >= align) {
        let w = (i + 1 - align) >>> 2;
        while (w < nWords && noCallOrJump(words[w]!)) w++;
        i = align + (w << 2) - 1;
      }
      continue;
    }
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
