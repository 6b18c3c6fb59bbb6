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
 * Cold start: a process decodes one kernel, so V8's warm-up is part of the cost. The first optimised compile
 * of `run` (~50-150 ms of TurboFan on a background thread, the loop runs ~10-25x slower until it lands) is
 * made from the type feedback seen so far, which is little: the kernel's first LZMA2 chunk is mostly one long
 * run. Every path it had not taken yet became a deoptimisation in the next chunk, and the loop went back to the
 * interpreter for another compile. So before its first real decode a process decodes a small embedded stream
 * (PRIMER: ~6 KB, made to take every path of the loop) and the first compile already covers all of them. The
 * arrays `run` indexes are plain Uint8Arrays (a Node Buffer, as a file read gives, is viewed as one), so its
 * element accesses see one map.
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
/**
 * The probability update as one expression for both bits: p - ((p - bias) >> 5) is p - (p >> 5) for a 1 bit
 * (bias 0) and p + ((2048 - p) >> 5) for a 0 bit (bias 2048 - 31: an arithmetic shift rounds down, the 0 bit's up).
 */
const PROB_UP_BIAS = 2048 - 31;
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

  readonly out: Uint8Array;

  constructor(out: Uint8Array) {
    this.out = plainBytes(out);
    this.view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    if (!primed) primeTypeFeedback();
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
    this.input = plainBytes(input);
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
          // After a match: the byte at rep0 guides the tree (its probabilities at 0x100 + its bit * 0x100) until the
          // first bit that differs from it, then the plain tree goes on. One loop for both: `offs` is 0x100 while the
          // bits agree and 0 from the first that differs (bit 1: offs &= matchBit; bit 0: offs &= ~matchBit).
          if (rep0 < 0 || rep0 >= pos - dictStart) this.copyTooFar('a matched literal');
          let match = out[pos - rep0 - 1]!;
          let offs = 0x100;
          do {
            match <<= 1;
            const matchBit = match & offs;
            i = base + offs + matchBit + sym;
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            // Branch-free (see the plain tree below); a 0 bit (zero = -1) keeps offs where the match bit is 0.
            const boundF = bound ^ SIGN;
            const diff = (code - boundF) | 0;
            const zero = (diff ^ ((code ^ boundF) & (diff ^ code))) >> 31;
            const rest = (range - bound) | 0;
            range = rest ^ ((rest ^ bound) & zero);
            code = (code - (bound & ~zero)) | 0;
            probs[i] = p - ((p - (zero & PROB_UP_BIAS)) >> 5);
            sym = (sym << 1) + 1 + zero;
            offs &= matchBit ^ zero;
            if (range >>> 24 === 0) {
              range <<= 8;
              code = ((code << 8) | input[inPos++]!) ^ SIGN;
            }
          } while (sym < 0x100);
        } else {
          // Literal bits are close to random, so a mispredicted branch per bit cost more than computing both
          // outcomes: `zero` is -1 for a 0 bit (code < bound, a signed compare of the flipped values that cannot
          // overflow), 0 for a 1 bit, and selects range, code and the probability update; the normalisation
          // shifts by 0 or 8 and takes the next byte or none.
          do {
            i = base + sym;
            p = probs[i]!;
            bound = Math.imul(range >>> 11, p);
            const boundF = bound ^ SIGN;
            const diff = (code - boundF) | 0;
            const zero = (diff ^ ((code ^ boundF) & (diff ^ code))) >> 31;
            const rest = (range - bound) | 0;
            range = rest ^ ((rest ^ bound) & zero);
            code = (code - (bound & ~zero)) | 0;
            probs[i] = p - ((p - (zero & PROB_UP_BIAS)) >> 5);
            sym = (sym << 1) + 1 + zero;
            const more = ((range >>> 24) - 1) >>> 31;
            const shift = more << 3;
            range <<= shift;
            code = (((code ^ SIGN) << shift) | (input[inPos]! & -more)) ^ SIGN;
            inPos += more;
          } while (sym < 0x100);
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
            // Branch-free, as these bits are random: code < old range = 2 * range + (0 or 1), so code - range
            // lies strictly between -2^31 and 2^31 and its sign is the bit (negative: 0, code unchanged).
            for (let k = direct - 4; k > 0; k--) {
              range >>>= 1;
              const diff = ((code ^ SIGN) - range) | 0;
              const zero = diff >> 31;
              code = (diff + (range & zero)) ^ SIGN;
              v = (v << 1) + 1 + zero;
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
            // Branch-free as in the literal loop (the low distance bits are close to random).
            const boundF = bound ^ SIGN;
            const diff = (code - boundF) | 0;
            const zero = (diff ^ ((code ^ boundF) & (diff ^ code))) >> 31;
            const rest = (range - bound) | 0;
            range = rest ^ ((rest ^ bound) & zero);
            code = (code - (bound & ~zero)) | 0;
            probs[i] = p - ((p - (zero & PROB_UP_BIAS)) >> 5);
            m = (m << 1) + 1 + zero;
            dist |= (zero + 1) << k;
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
        // A long match repeating a period of 2-7 bytes (mostly padding and tables): its first bytes one by one up to a
        // stride that is a multiple of the period and of 4, at least 8, then blocks from that stride back. A block read
        // from 4-7 bytes back overlaps the block just written without matching it, and the CPU cannot forward
        // that store to the load: the copy waited on every block.
        if (rep0 < 7 && n >= 40) {
          let stride = rep0 + 1;
          while ((stride & 3) !== 0 || stride < 8) stride += rep0 + 1;
          for (const head = pos + stride; pos < head; ) out[pos++] = out[from++]!;
          from = pos - stride;
        }
        // Four bytes at a time when the source is at least four back (then each block reads only bytes already
        // final, overlap or not), the tail byte by byte: the byte loop alone was ~12% of the decoder's time.
        if (pos - from >= 4) {
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

/** The same bytes as a plain Uint8Array (a Buffer is a subclass with a map of its own, which hot loops would see as a second kind of array). */
export function plainBytes(a: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(a) === Uint8Array.prototype ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * An .lzma file (lc 3, lp 0, pb 2, unknown size with end marker; `xz --format=lzma -9e`) of PRIMER_SIZE bytes
 * of primerInput in lzma-decoder.test.ts: literals and matched literals, runs of one byte, short reps, reps 1-3,
 * low, mid and high lengths, distance slots below 4, up to 13 and from 14 (direct bits and the align tree), long
 * non-overlapping and short overlapping copies. The test checks it decodes to that input.
 */
export const PRIMER =
  '5d00000004ffffffffffffffff00741f7c200bec9cb5600a928bf1a65d8a42263170a06423fd7fec83ee804c596c3db1869f3056662590' +
  '0d7511c67b604514c7b212c5f9a47be04b57c4f730d3b5eaf45ecb0766b6da009b02bdb5fb6debaad64c8119ff47743c0c09e712c2d3ad' +
  'd54bdd5dea9a6c969a1f2df6fbdc40c12144906fe6bc9aab879a181bb67e34e693c8e717a1843833ba3d2ecfca64448c350eef904a73ba' +
  'd1bd6fc795901fcb2f49f6a044f8d74c749f6c29a0696fd3a352f0a2d30ce65bc07af8692e6b718702026b089efa8d59d38966bc27f18c' +
  '2f2b57afe9e6c5239f9a7caa2d584c35b30157e2d460007ecc34cbb16a5960fd2b64331e73dbc3670e5cac13c0446d471e64b731779b0b' +
  '67a399647dc2fbeb7847949c0c538e388cf49d8ca8c38280f639611740389d2b79227785bb597892d254ca3d4989aa1b70943fee0e0e08' +
  'a106fbcbf4886ddb4a5a09f6deb2ed14d110768b9e301a5dd2f39f299f1f25fc81b599f0dbfcbc5e4b772ac036f56d66daa19edbd580a4' +
  'ae04e3e0119c6de36380e8062a2746befc21387e8e60c156e8cabf10c25dce36eb98519776b9398dcf570e70703ab8989b874fe2a5b56c' +
  '1d15950f6cb2fc60d7dbef7a2dbdade4b6a8997837f8e870832b263e84799c85077863c5f964ff70b5c78fdf9aea695d1469e0c7a35ff9' +
  '5445152e5b11fd8277f25d55884069a1bbf9d7f1a7c28f7066a8dec9f5c7ad4f3bcabe7496f52d13661033e8ddb25667ef4735c2112a27' +
  'ed8d05d54dd11aadd305fc710145c54029d9070c3627a801eba3793e1664704f39122cdbf1d304fb7823adcad9e49f5934deb6cb6320a7' +
  '3fc2af50b44965e86fa740a1d9315cefa41620412ba395287e500534d1128150dc441bb3e43724b3b8580fd9b51573445963fb63fb9da2' +
  '1559550b62cfc0f24ccec8fe567139277537fb3faf49098629be0d2917089e58cd0161c511e5144af5307c943e42916174e7badb7231ad' +
  '314c2e9f0ea248da457375e3dc843fff5d6be5a4fd159766340fa726932829e68734f53ff86382adb383c8e141686b5dff1ceddac13d04' +
  'd8fea7421aef85a4d86a51cda7a0298f220aa3eaf8e0daefa10db3020ecdab7a534563eb08bf146d110bca52b6fc1818b1ed5656125564' +
  'e50e87b57fae848bcb064db67fafef06c42ffef16a78';
export const PRIMER_SIZE = 6005;

let primed = false;
let warmedUp = false;

/** Decodes of PRIMER in the early warm-up: enough calls of `run` (~2 ms each in the interpreter) that V8 queues its optimised compile. */
const WARM_UP_DECODES = 8;

/** Decodes PRIMER once per process, so that `run` has type feedback for all its paths before its first optimised compile. */
function primeTypeFeedback(): void {
  primed = true;
  decodePrimer();
}

/**
 * For a process about to decode a kernel, before it has the data (the boot calls it before it sets the VM up): the
 * primer decoded often enough that V8 queues `run`'s optimised compile now, on a background thread, so the compile
 * (~50-100 ms) overlaps the VM's setup instead of the kernel's first chunks running in the interpreter while it is
 * made. Once per process; decoding works the same without it.
 */
export function warmUpLzmaDecoder(): void {
  if (warmedUp) return;
  warmedUp = true;
  primed = true;
  for (let k = 0; k < WARM_UP_DECODES; k++) decodePrimer();
}

function decodePrimer(): void {
  const data = new Uint8Array(PRIMER.length / 2);
  for (let i = 0; i < data.length; i++) data[i] = parseInt(PRIMER.slice(2 * i, 2 * i + 2), 16);
  try {
    const dec = new LzmaDecoder(new Uint8Array(PRIMER_SIZE));
    dec.setProperties(parseLzmaProperties(data[0]!));
    dec.resetState();
    // LZMA2 sets dictStart at each dictionary reset. Set here too: a field only ever initialised is constant to V8, and
    // code compiled while it was would be thrown away ('code dependencies') at the first LZMA2 chunk.
    dec.dictStart = dec.outPos;
    dec.startRangeCoder(data, 13, data.length);
    dec.decode(PRIMER_SIZE, true);
  } catch {
    // Only a warm-up: a decoder that failed on it fails lzma-decoder.test.ts.
  }
}
