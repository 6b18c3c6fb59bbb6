/**
 * LZMA decoding (the range coder and the literal/match/rep model of the LZMA SDK's format
 * description), writing into one preallocated output buffer that doubles as the dictionary:
 * the whole kernel is decompressed in memory, so no sliding window is needed. Used by the
 * `.lzma` container and by LZMA2 chunks (xz), which reuse the model state between chunks.
 *
 * Speed: the kernel's payload is ~8 MB of LZMA2 for ~66 MB out, decoded before the guest's first
 * instruction, so `run` is one loop with everything it touches in locals: the range coder's range and
 * code and the distances as int32 (every value V8 sees is a small integer, so the optimised loop is
 * all 32-bit machine arithmetic and never deoptimises for a value above 2^31, as it did with uint32
 * numbers), all probabilities in one Uint16Array at fixed offsets, the bit trees written out inline.
 * The range coder's state goes back to fields only when a call ends (an LZMA2 chunk).
 *
 * Corrupt input never reads or writes outside the arrays: every distance is checked against the
 * output written so far, and the output against its limit. The input is not checked per byte: a
 * read past the end gives 0 (past the array) or the next bytes (inside it), and the caller learns
 * from `overran` (or LZMA2 from the chunk's end position) that the data was truncated.
 */

/**
 * Why a payload could not be decompressed, as the loader tells the user what to do:
 * - damaged: the data do not check out (corrupt, cut short, a size or check that does not match): a good copy of
 *   the file fixes it;
 * - unsupported: a valid stream using something tsvmm does not decode (a method, filter, check or option);
 * - unknown-format: the payload starts with no compression format's magic;
 * - too-big: it decompresses to more than the guest's RAM;
 * - internal: a bug in tsvmm.
 */
export type DecompressErrorKind = 'damaged' | 'unsupported' | 'unknown-format' | 'too-big' | 'internal';

export class DecompressError extends Error {
  constructor(
    readonly kind: DecompressErrorKind,
    message: string,
  ) {
    super(message);
  }
}

const STATES = 12;
const POS_STATES_MAX = 16;
const PROB_INIT = 1024;
const MIN_MATCH = 2;
/** Distance slots below this code their low bits with the per-slot reverse trees, above it with direct bits plus the align tree. */
const END_POS_MODEL_INDEX = 14;
/** The distance meaning "end of data" (an end marker): 0xffffffff, as the int32 the loop keeps distances in. */
const END_MARKER = -1;
/** The sign bit: x ^ SIGN orders unsigned 32-bit values as signed ones. */
const SIGN = -0x8000_0000;

// Where each probability group starts in the one model array (in entries).
const IS_MATCH = 0; // [state][posState]
const IS_REP = IS_MATCH + STATES * POS_STATES_MAX; // [state]
const IS_REP_G0 = IS_REP + STATES;
const IS_REP_G1 = IS_REP_G0 + STATES;
const IS_REP_G2 = IS_REP_G1 + STATES;
const IS_REP0_LONG = IS_REP_G2 + STATES; // [state][posState]
const DIST_SLOT = IS_REP0_LONG + STATES * POS_STATES_MAX; // [lenState 0..3][64], trees rooted at 1
const DIST_SPECIAL = DIST_SLOT + 4 * 64; // reverse trees of the slots 4..13, 114 entries in all
const DIST_ALIGN = DIST_SPECIAL + 114; // the 4-bit reverse tree of the low distance bits, rooted at 1
// A length coder: choice, choice2, then low and mid trees (8 entries per pos state, rooted at 1), then the high tree.
const LEN_CHOICE2 = 1;
const LEN_LOW = 2;
const LEN_MID = LEN_LOW + POS_STATES_MAX * 8;
const LEN_HIGH = LEN_MID + POS_STATES_MAX * 8;
const LEN_CODER_SIZE = LEN_HIGH + 256;
const MATCH_LEN = DIST_ALIGN + 16;
const REP_LEN = MATCH_LEN + LEN_CODER_SIZE;
const LITERAL = REP_LEN + LEN_CODER_SIZE; // [context][0x300]

export interface LzmaProperties {
  lc: number;
  lp: number;
  pb: number;
}

/** Splits the LZMA properties byte ((pb * 5 + lp) * 9 + lc). */
export function parseLzmaProperties(b: number): LzmaProperties {
  if (b >= 9 * 5 * 5) throw new DecompressError('damaged', `invalid LZMA properties byte 0x${b.toString(16)}`);
  const lc = b % 9;
  const rest = (b - lc) / 9;
  return { lc, lp: rest % 5, pb: Math.floor(rest / 5) };
}

export class LzmaDecoder {
  // Range decoder.
  private input: Uint8Array = new Uint8Array(0);
  private inPos = 0;
  private inEnd = 0;
  /** The range coder's range [0] and code [1] between calls (unsigned 32-bit). */
  private readonly rc = new Uint32Array(2);

  // Model.
  private lc = 0;
  private lp = 0;
  private pb = 0;
  private probs = new Uint16Array(LITERAL + 0x300);
  private state = 0;
  /** The four most recent distances (minus one), rep0 the latest: reps[0..3]. */
  private readonly reps = new Uint32Array(4);
  /** Bytes of a match that did not fit before the previous chunk's end (LZMA2). */
  private pendingLen = 0;

  /** Output (the dictionary); `outPos` bytes are written. */
  outPos = 0;
  /** Output before this position is not part of the dictionary (LZMA2 dictionary reset). */
  dictStart = 0;

  /** The output as a DataView, for copying matches four bytes at a time. */
  private readonly view: DataView;

  constructor(readonly out: Uint8Array) {
    this.view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  }

  setProperties(p: LzmaProperties): void {
    if (p.lc + p.lp > 12) throw new DecompressError('unsupported', `LZMA lc + lp = ${p.lc + p.lp} is more than this decoder supports`);
    this.lc = p.lc;
    this.lp = p.lp;
    this.pb = p.pb;
    const n = LITERAL + (0x300 << (p.lc + p.lp));
    if (this.probs.length !== n) this.probs = new Uint16Array(n);
  }

  /** State reset: all probabilities to 1/2, state and reps to 0. */
  resetState(): void {
    this.probs.fill(PROB_INIT);
    this.state = 0;
    this.reps.fill(0);
    this.pendingLen = 0;
  }

  /** Starts a range decoder on input[from, end): the first byte must be 0, then 4 bytes of code. */
  startRangeCoder(input: Uint8Array, from: number, end: number): void {
    if (end - from < 5) throw new DecompressError('damaged', 'truncated LZMA data (range coder needs 5 bytes)');
    if (input[from] !== 0) throw new DecompressError('damaged', 'corrupt LZMA data (range coder does not start with 0)');
    this.input = input;
    this.inEnd = end;
    this.rc[1] = (input[from + 1]! << 24) | (input[from + 2]! << 16) | (input[from + 3]! << 8) | input[from + 4]!;
    this.rc[0] = 0xffff_ffff;
    this.inPos = from + 5;
  }

  get inputPosition(): number {
    return this.inPos;
  }

  /** True when decoding read past the end of its input (the data is truncated or corrupt). */
  get overran(): boolean {
    return this.inPos > this.inEnd;
  }

  /** True when the range coder ended cleanly (code 0), as LZMA2 chunks and end markers require. */
  get rangeCoderFinished(): boolean {
    return this.rc[1] === 0;
  }

  /**
   * Decodes until `limit` bytes of output exist or an end marker is found (returns true for
   * the marker). `allowEndMarker` is false for LZMA2, whose chunks have known sizes.
   */
  decode(limit: number, allowEndMarker: boolean): boolean {
    if (limit > this.out.length) throw new DecompressError('damaged', `LZMA output would exceed the ${this.out.length} bytes announced`);
    const r = this.run(limit, allowEndMarker, false);
    if (this.overran) throw new DecompressError('damaged', 'truncated LZMA data (input ended inside the range coder)');
    return r;
  }

  /** Decodes one more symbol and says whether it is the end marker (a match at distance 2^32). */
  endMarkerFollows(): boolean {
    const r = this.run(this.outPos + 1, true, true);
    return r && !this.overran;
  }

  private copyTooFar(what: string): never {
    throw new DecompressError('damaged', `corrupt LZMA data (${what} reaches before the start of the data)`);
  }

  /**
   * The decoding loop. `peek` (endMarkerFollows) decodes one symbol without writing: true only
   * for an end marker.
   */
  private run(limit: number, allowEndMarker: boolean, peek: boolean): boolean {
    const out = this.out;
    const view = this.view;
    const input = this.input;
    const probs = this.probs;
    const reps = this.reps;
    const dictStart = this.dictStart;
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    const lc = this.lc;
    const lcShift = 8 - lc;
    // range and code as int32 holding their unsigned 32-bit values; code with its top bit flipped, so that a
    // signed compare with (bound ^ SIGN) is the unsigned compare (flipping is additive: code - bound stays flipped).
    let range = this.rc[0]! | 0;
    let code = this.rc[1]! ^ SIGN;
    let inPos = this.inPos;
    let pos = this.outPos;
    let state = this.state;
    let rep0 = reps[0]! | 0;
    let rep1 = reps[1]! | 0;
    let rep2 = reps[2]! | 0;
    let rep3 = reps[3]! | 0;
    let marker = false;
    // Scratch for the inline bit decoding: index, probability, bound.
    let i = 0;
    let p = 0;
    let bound = 0;
    let len = this.pendingLen;

    // The rest of a match the previous chunk cut (LZMA2 chunks end on symbol boundaries, but be exact anyway).
    if (len > 0 && !peek) {
      const n = Math.min(len, limit - pos);
      let from = pos - rep0 - 1;
      for (let k = 0; k < n; k++) out[pos++] = out[from++]!;
      len -= n;
    }

    while (pos < limit) {
      const posState = pos & pbMask;
      // is-match: literal (0) or match (1).
      i = IS_MATCH + (state << 4) + posState;
      p = probs[i]!;
      bound = Math.imul(range >>> 11, p);
      if (code < (bound ^ SIGN)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        if (range >>> 24 === 0) {
          range <<= 8;
          code = ((code << 8) | input[inPos++]!) ^ SIGN;
        }
        if (peek) break;
        // A literal: 8 bits through the tree of its context (lc high bits of the previous byte, lp low bits of the position).
        const prev = pos > dictStart ? out[pos - 1]! : 0;
        const base = LITERAL + 0x300 * (((pos & lpMask) << lc) + (prev >>> lcShift));
        let sym = 1;
        if (state >= 7) {
          // After a match: the byte at rep0 guides the tree until the first bit that differs from it.
          if (rep0 < 0 || rep0 >= pos - dictStart) this.copyTooFar('a matched literal');
          let match = out[pos - rep0 - 1]!;
          do {
            const matchBit = (match >>> 7) & 1;
            match <<= 1;
            i = base + 0x100 + (matchBit << 8) + sym;
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            let b: number;
            if (code < (bound ^ SIGN)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              b = 0;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              b = 1;
            }
            if (range >>> 24 === 0) {
              range <<= 8;
              code = ((code << 8) | input[inPos++]!) ^ SIGN;
            }
            sym = (sym << 1) | b;
            if (matchBit !== b) break;
          } while (sym < 0x100);
        }
        while (sym < 0x100) {
          i = base + sym;
          p = probs[i]!;
          bound = Math.imul(range >>> 11, p);
          if (code < (bound ^ SIGN)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            sym <<= 1;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> 5);
            sym = (sym << 1) | 1;
          }
          if (range >>> 24 === 0) {
            range <<= 8;
            code = ((code << 8) | input[inPos++]!) ^ SIGN;
          }
        }
        out[pos++] = sym & 0xff;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      range = (range - bound) | 0;
      code = (code - bound) | 0;
      probs[i] = p - (p >>> 5);
      if (range >>> 24 === 0) {
        range <<= 8;
        code = ((code << 8) | input[inPos++]!) ^ SIGN;
      }

      // is-rep: a new distance (0) or one of the last four (1).
      i = IS_REP + state;
      p = probs[i]!;
      bound = Math.imul(range >>> 11, p);
      let lenCoder: number;
      let isRep: boolean;
      if (code < (bound ^ SIGN)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        lenCoder = MATCH_LEN;
        isRep = false;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
        lenCoder = REP_LEN;
        isRep = true;
      }
      if (range >>> 24 === 0) {
        range <<= 8;
        code = ((code << 8) | input[inPos++]!) ^ SIGN;
      }
      if (isRep) {
        if (peek) break;
        if (pos === dictStart) throw new DecompressError('damaged', 'corrupt LZMA data (repeated match at the start of the data)');
        // rep0 (G0 = 0), possibly only one byte of it (rep0-long = 0); else rep1, rep2 or rep3 (G1, G2).
        i = IS_REP_G0 + state;
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if (code < (bound ^ SIGN)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          if (range >>> 24 === 0) {
            range <<= 8;
            code = ((code << 8) | input[inPos++]!) ^ SIGN;
          }
          i = IS_REP0_LONG + (state << 4) + posState;
          p = probs[i]!;
          bound = Math.imul(range >>> 11, p);
          if (code < (bound ^ SIGN)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            if (range >>> 24 === 0) {
              range <<= 8;
              code = ((code << 8) | input[inPos++]!) ^ SIGN;
            }
            // Short rep: one byte at distance rep0.
            state = state < 7 ? 9 : 11;
            if (rep0 < 0 || rep0 >= pos - dictStart) this.copyTooFar('a short rep');
            out[pos] = out[pos - rep0 - 1]!;
            pos++;
            continue;
          }
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          if (range >>> 24 === 0) {
            range <<= 8;
            code = ((code << 8) | input[inPos++]!) ^ SIGN;
          }
          i = IS_REP_G1 + state;
          p = probs[i]!;
          bound = Math.imul(range >>> 11, p);
          let dist: number;
          if (code < (bound ^ SIGN)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            dist = rep1;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> 5);
            if (range >>> 24 === 0) {
              range <<= 8;
              code = ((code << 8) | input[inPos++]!) ^ SIGN;
            }
            i = IS_REP_G2 + state;
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            if (code < (bound ^ SIGN)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              dist = rep2;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              dist = rep3;
              rep3 = rep2;
            }
            rep2 = rep1;
          }
          rep1 = rep0;
          rep0 = dist;
        }
        if (range >>> 24 === 0) {
          range <<= 8;
          code = ((code << 8) | input[inPos++]!) ^ SIGN;
        }
      }

      // The length: choice (low 2..9), choice2 (mid 10..17, high 18..273), then a 3- or 8-bit tree.
      let treeBase: number;
      let treeEnd: number;
      i = lenCoder;
      p = probs[i]!;
      bound = Math.imul(range >>> 11, p);
      if (code < (bound ^ SIGN)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        treeBase = lenCoder + LEN_LOW + (posState << 3);
        treeEnd = 8;
        len = 0;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
        if (range >>> 24 === 0) {
          range <<= 8;
          code = ((code << 8) | input[inPos++]!) ^ SIGN;
        }
        i = lenCoder + LEN_CHOICE2;
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if (code < (bound ^ SIGN)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          treeBase = lenCoder + LEN_MID + (posState << 3);
          treeEnd = 8;
          len = 8;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          treeBase = lenCoder + LEN_HIGH;
          treeEnd = 256;
          len = 16;
        }
      }
      if (range >>> 24 === 0) {
        range <<= 8;
        code = ((code << 8) | input[inPos++]!) ^ SIGN;
      }
      let m = 1;
      do {
        i = treeBase + m;
        p = probs[i]!;
        bound = Math.imul(range >>> 11, p);
        if (code < (bound ^ SIGN)) {
          range = bound;
          probs[i] = p + ((2048 - p) >>> 5);
          m <<= 1;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> 5);
          m = (m << 1) | 1;
        }
        if (range >>> 24 === 0) {
          range <<= 8;
          code = ((code << 8) | input[inPos++]!) ^ SIGN;
        }
      } while (m < treeEnd);
      len += m - treeEnd;

      if (isRep) {
        state = state < 7 ? 8 : 11;
      } else {
        state = state < 7 ? 7 : 10;
        // The distance: a 6-bit slot (its tree chosen by the length), then its low bits.
        treeBase = DIST_SLOT + (len < 3 ? len : 3) * 64;
        m = 1;
        do {
          i = treeBase + m;
          p = probs[i]!;
          bound = Math.imul(range >>> 11, p);
          if (code < (bound ^ SIGN)) {
            range = bound;
            probs[i] = p + ((2048 - p) >>> 5);
            m <<= 1;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> 5);
            m = (m << 1) | 1;
          }
          if (range >>> 24 === 0) {
            range <<= 8;
            code = ((code << 8) | input[inPos++]!) ^ SIGN;
          }
        } while (m < 64);
        const slot = m - 64;
        let dist = slot;
        if (slot >= 4) {
          const direct = (slot >>> 1) - 1;
          dist = (2 | (slot & 1)) << direct;
          let bits: number;
          if (slot < END_POS_MODEL_INDEX) {
            treeBase = DIST_SPECIAL + dist - slot - 1;
            bits = direct;
          } else {
            // Direct bits (probability 1/2 each), then the 4 low bits through the align tree.
            let v = 0;
            for (let k = direct - 4; k > 0; k--) {
              range >>>= 1;
              if (code >= (range ^ SIGN)) {
                code = (code - range) | 0;
                v = (v << 1) | 1;
              } else {
                v <<= 1;
              }
              if (range >>> 24 === 0) {
                range <<= 8;
                code = ((code << 8) | input[inPos++]!) ^ SIGN;
              }
            }
            dist = (dist + (v << 4)) | 0;
            treeBase = DIST_ALIGN;
            bits = 4;
          }
          // A reverse tree: least significant bit first.
          m = 1;
          for (let k = 0; k < bits; k++) {
            i = treeBase + m;
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            if (code < (bound ^ SIGN)) {
              range = bound;
              probs[i] = p + ((2048 - p) >>> 5);
              m <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> 5);
              m = (m << 1) | 1;
              dist = (dist + (1 << k)) | 0;
            }
            if (range >>> 24 === 0) {
              range <<= 8;
              code = ((code << 8) | input[inPos++]!) ^ SIGN;
            }
          }
        }
        if (dist === END_MARKER) {
          if (!allowEndMarker) throw new DecompressError('damaged', 'corrupt LZMA data (end marker inside an LZMA2 chunk)');
          marker = true;
          len = 0;
          break;
        }
        if (peek) break;
        rep3 = rep2;
        rep2 = rep1;
        rep1 = rep0;
        rep0 = dist;
      }

      // The match: len + 2 bytes from rep0 + 1 back, cut at the limit (the rest goes on in the next call).
      len += MIN_MATCH;
      if (rep0 < 0 || rep0 >= pos - dictStart) this.copyTooFar(`match distance ${(rep0 >>> 0) + 1}`);
      const n = len < limit - pos ? len : limit - pos;
      let from = pos - rep0 - 1;
      const end = pos + n;
      if (rep0 === 0) {
        // A run of one byte.
        out.fill(out[from]!, pos, end);
        pos = end;
      } else if (n >= 64 && rep0 + 1 >= n) {
        // A long match that does not overlap its source: one block copy.
        out.copyWithin(pos, from, from + n);
        pos = end;
      } else {
        // Four bytes at a time when the source is at least four back (then each block reads only bytes already
        // final, overlap or not), the tail byte by byte: the byte loop alone was ~12% of the decoder's time.
        if (rep0 >= 3) {
          for (const end4 = end - 4; pos <= end4; pos += 4, from += 4) view.setInt32(pos, view.getInt32(from));
        }
        while (pos < end) out[pos++] = out[from++]!;
      }
      len -= n;
    }

    this.rc[0] = range;
    this.rc[1] = code ^ SIGN;
    this.inPos = inPos;
    this.outPos = pos;
    this.state = state;
    reps[0] = rep0;
    reps[1] = rep1;
    reps[2] = rep2;
    reps[3] = rep3;
    this.pendingLen = len;
    return marker;
  }
}
