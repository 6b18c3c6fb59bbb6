/**
 * LZMA decoding (the range coder and the literal/match/rep model of the LZMA SDK's format
 * description), writing into one preallocated output buffer that doubles as the dictionary:
 * the whole kernel is decompressed in memory, so no sliding window is needed. Used by the
 * `.lzma` container and by LZMA2 chunks (xz), which reuse the model state between chunks.
 *
 * Corrupt input never reads outside the arrays: every distance is checked against the
 * output written so far and every input read against the input's end, each failing with a
 * DecompressError.
 */

export class DecompressError extends Error {}

const NUM_STATES = 12;
const POS_STATES_MAX = 16;
const LEN_LOW_SYMBOLS = 8;
const LEN_MID_SYMBOLS = 8;
const LEN_HIGH_SYMBOLS = 256;
const DIST_STATES = 4;
const DIST_SLOTS = 64;
const END_POS_MODEL_INDEX = 14;
const FULL_DISTANCES = 128;
const ALIGN_BITS = 4;
const PROB_INIT = 1024;
const MIN_MATCH = 2;

/** Probability model of a length coder: choice, choice2, low/mid trees per pos state, the high tree. */
class LengthModel {
  readonly choice = new Uint16Array(2);
  readonly low = new Uint16Array(POS_STATES_MAX << 3);
  readonly mid = new Uint16Array(POS_STATES_MAX << 3);
  readonly high = new Uint16Array(LEN_HIGH_SYMBOLS);
  reset(): void {
    this.choice.fill(PROB_INIT);
    this.low.fill(PROB_INIT);
    this.mid.fill(PROB_INIT);
    this.high.fill(PROB_INIT);
  }
}

export interface LzmaProperties {
  lc: number;
  lp: number;
  pb: number;
}

/** Splits the LZMA properties byte ((pb * 5 + lp) * 9 + lc). */
export function parseLzmaProperties(b: number): LzmaProperties {
  if (b >= 9 * 5 * 5) throw new DecompressError(`invalid LZMA properties byte 0x${b.toString(16)}`);
  const lc = b % 9;
  const rest = (b - lc) / 9;
  return { lc, lp: rest % 5, pb: Math.floor(rest / 5) };
}

export class LzmaDecoder {
  // Range decoder.
  private input: Uint8Array = new Uint8Array(0);
  private inPos = 0;
  private inEnd = 0;
  /**
   * The range coder's range [0] and code [1]: unsigned 32-bit values kept in a typed array, since object
   * fields above 2^30 are boxed doubles in V8 (that cost about half the decoder's time).
   */
  private readonly rc = new Uint32Array(2);

  // Model.
  private lc = 0;
  private lp = 0;
  private pb = 0;
  private literal = new Uint16Array(0x300);
  private readonly isMatch = new Uint16Array(NUM_STATES << 4);
  private readonly isRep = new Uint16Array(NUM_STATES);
  private readonly isRepG0 = new Uint16Array(NUM_STATES);
  private readonly isRepG1 = new Uint16Array(NUM_STATES);
  private readonly isRepG2 = new Uint16Array(NUM_STATES);
  private readonly isRep0Long = new Uint16Array(NUM_STATES << 4);
  private readonly distSlot = new Uint16Array(DIST_STATES * DIST_SLOTS);
  private readonly distSpecial = new Uint16Array(FULL_DISTANCES - END_POS_MODEL_INDEX);
  private readonly distAlign = new Uint16Array(1 << ALIGN_BITS);
  private readonly lenModel = new LengthModel();
  private readonly repLenModel = new LengthModel();
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;
  /** Bytes of a match that did not fit before the previous chunk's end (LZMA2). */
  private pendingLen = 0;

  /** Output (the dictionary); `outPos` bytes are written. */
  outPos = 0;
  /** Output before this position is not part of the dictionary (LZMA2 dictionary reset). */
  dictStart = 0;

  constructor(readonly out: Uint8Array) {}

  setProperties(p: LzmaProperties): void {
    if (p.lc + p.lp > 12) throw new DecompressError(`LZMA lc + lp = ${p.lc + p.lp} is more than this decoder supports`);
    this.lc = p.lc;
    this.lp = p.lp;
    this.pb = p.pb;
    const n = 0x300 << (p.lc + p.lp);
    if (this.literal.length !== n) this.literal = new Uint16Array(n);
  }

  /** State reset: all probabilities to 1/2, state and reps to 0. */
  resetState(): void {
    this.literal.fill(PROB_INIT);
    this.isMatch.fill(PROB_INIT);
    this.isRep.fill(PROB_INIT);
    this.isRepG0.fill(PROB_INIT);
    this.isRepG1.fill(PROB_INIT);
    this.isRepG2.fill(PROB_INIT);
    this.isRep0Long.fill(PROB_INIT);
    this.distSlot.fill(PROB_INIT);
    this.distSpecial.fill(PROB_INIT);
    this.distAlign.fill(PROB_INIT);
    this.lenModel.reset();
    this.repLenModel.reset();
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
    this.pendingLen = 0;
  }

  /** Starts a range decoder on input[from, end): the first byte must be 0, then 4 bytes of code. */
  startRangeCoder(input: Uint8Array, from: number, end: number): void {
    if (end - from < 5) throw new DecompressError('truncated LZMA data (range coder needs 5 bytes)');
    if (input[from] !== 0) throw new DecompressError('corrupt LZMA data (range coder does not start with 0)');
    this.input = input;
    this.inEnd = end;
    this.rc[1] = (input[from + 1]! << 24) | (input[from + 2]! << 16) | (input[from + 3]! << 8) | input[from + 4]!;
    this.rc[0] = 0xffff_ffff;
    this.inPos = from + 5;
  }

  get inputPosition(): number {
    return this.inPos;
  }

  /** True when the range coder ended cleanly (code 0), as LZMA2 chunks and end markers require. */
  get rangeCoderFinished(): boolean {
    return this.rc[1] === 0;
  }

  private nextByte(): number {
    if (this.inPos >= this.inEnd) this.truncated();
    return this.input[this.inPos++]!;
  }

  private bit(probs: Uint16Array, i: number): number {
    const rc = this.rc;
    const p = probs[i]!;
    let range = rc[0]!;
    let code = rc[1]!;
    const bound = (range >>> 11) * p;
    let b: number;
    if (code < bound) {
      range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
      b = 0;
    } else {
      range -= bound;
      code -= bound;
      probs[i] = p - (p >>> 5);
      b = 1;
    }
    if (range < 0x0100_0000) {
      range *= 256;
      code = (code << 8) | this.nextByte();
    }
    rc[0] = range;
    rc[1] = code;
    return b;
  }

  private directBits(count: number): number {
    const rc = this.rc;
    let range = rc[0]!;
    let code = rc[1]!;
    let v = 0;
    for (let i = 0; i < count; i++) {
      range >>>= 1;
      let b = 0;
      if (code >= range) {
        code -= range;
        b = 1;
      }
      v = ((v << 1) | b) >>> 0;
      if (range < 0x0100_0000) {
        range *= 256;
        code = ((code << 8) | this.nextByte()) >>> 0;
      }
    }
    rc[0] = range;
    rc[1] = code;
    return v;
  }

  /** A bit tree of `bits` levels rooted at probs[base + 1], most significant bit first. */
  private tree(probs: Uint16Array, base: number, bits: number): number {
    let m = 1;
    for (let i = 0; i < bits; i++) m = (m << 1) | this.bit(probs, base + m);
    return m - (1 << bits);
  }

  /** The same tree read least significant bit first. */
  private reverseTree(probs: Uint16Array, base: number, bits: number): number {
    let m = 1;
    let v = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(probs, base + m);
      m = (m << 1) | b;
      v |= b << i;
    }
    return v;
  }

  private length(model: LengthModel, posState: number): number {
    if (this.bit(model.choice, 0) === 0) return this.tree(model.low, posState << 3, 3);
    if (this.bit(model.choice, 1) === 0) return LEN_LOW_SYMBOLS + this.tree(model.mid, posState << 3, 3);
    return LEN_LOW_SYMBOLS + LEN_MID_SYMBOLS + this.tree(model.high, 0, 8);
  }

  private distance(len: number): number {
    const lenState = len < DIST_STATES - 1 ? len : DIST_STATES - 1;
    const slot = this.tree(this.distSlot, lenState * DIST_SLOTS, 6);
    if (slot < 4) return slot;
    const direct = (slot >>> 1) - 1;
    let dist = ((2 | (slot & 1)) << direct) >>> 0;
    if (slot < END_POS_MODEL_INDEX) return (dist + this.reverseTree(this.distSpecial, dist - slot - 1, direct)) >>> 0;
    dist = (dist + ((this.directBits(direct - ALIGN_BITS) << ALIGN_BITS) >>> 0)) >>> 0;
    return (dist + this.reverseTree(this.distAlign, 0, ALIGN_BITS)) >>> 0;
  }

  private copyMatch(dist: number, len: number, limit: number): void {
    const out = this.out;
    let pos = this.outPos;
    if (dist >= pos - this.dictStart) throw new DecompressError(`corrupt LZMA data (match distance ${dist + 1} reaches before the start of the data)`);
    const n = Math.min(len, limit - pos);
    let from = pos - dist - 1;
    if (n >= 32 && dist + 1 >= n) {
      // A long match that does not overlap its source: one block copy (the byte loop was ~18% of the time).
      out.copyWithin(pos, from, from + n);
      pos += n;
    } else for (let i = 0; i < n; i++) out[pos++] = out[from++]!;
    this.outPos = pos;
    this.pendingLen = len - n;
  }

  /** Decodes one more symbol and says whether it is the end marker (a match at distance 2^32). */
  endMarkerFollows(): boolean {
    const posState = this.outPos & ((1 << this.pb) - 1);
    if (this.bit(this.isMatch, (this.state << 4) | posState) === 0) return false;
    if (this.bit(this.isRep, this.state) !== 0) return false;
    return this.distance(this.length(this.lenModel, posState)) === 0xffff_ffff;
  }

  /**
   * Decodes is-match bits and literals until `limit` bytes exist (returns false) or an is-match bit
   * says a match follows (returns true, the bit consumed). The range coder lives in locals here:
   * this loop is most of the decoder's time.
   */
  private literals(limit: number, pbMask: number, lpMask: number, lc: number): boolean {
    const out = this.out;
    const input = this.input;
    const inEnd = this.inEnd;
    const isMatch = this.isMatch;
    const literal = this.literal;
    const rc = this.rc;
    const dictStart = this.dictStart;
    let range = rc[0]!;
    let code = rc[1]!;
    let inPos = this.inPos;
    let pos = this.outPos;
    let state = this.state;
    let matched = false;
    while (pos < limit) {
      // The is-match bit.
      let i = (state << 4) | (pos & pbMask);
      let p = isMatch[i]!;
      let bound = (range >>> 11) * p;
      if (code >= bound) {
        range -= bound;
        code -= bound;
        isMatch[i] = p - (p >>> 5);
        if (range < 0x0100_0000) {
          if (inPos >= inEnd) return this.truncated();
          range *= 256;
          code = ((code << 8) | input[inPos++]!) >>> 0;
        }
        matched = true;
        break;
      }
      range = bound;
      isMatch[i] = p + ((2048 - p) >>> 5);
      if (range < 0x0100_0000) {
        if (inPos >= inEnd) return this.truncated();
        range *= 256;
        code = ((code << 8) | input[inPos++]!) >>> 0;
      }
      const prev = pos > dictStart ? out[pos - 1]! : 0;
      const base = 0x300 * (((pos & lpMask) << lc) + (prev >>> (8 - lc)));
      let sym = 1;
      if (state >= 7) {
        const rep0 = this.rep0;
        if (rep0 >= pos - dictStart) throw new DecompressError('corrupt LZMA data (matched literal before the start of the data)');
        let match = out[pos - rep0 - 1]!;
        while (sym < 0x100) {
          const matchBit = (match >>> 7) & 1;
          match <<= 1;
          i = base + 0x100 + (matchBit << 8) + sym;
          p = literal[i]!;
          bound = (range >>> 11) * p;
          let b = 0;
          if (code < bound) {
            range = bound;
            literal[i] = p + ((2048 - p) >>> 5);
          } else {
            range -= bound;
            code -= bound;
            literal[i] = p - (p >>> 5);
            b = 1;
          }
          if (range < 0x0100_0000) {
            if (inPos >= inEnd) return this.truncated();
            range *= 256;
            code = ((code << 8) | input[inPos++]!) >>> 0;
          }
          sym = (sym << 1) | b;
          if (matchBit !== b) break;
        }
      }
      while (sym < 0x100) {
        i = base + sym;
        p = literal[i]!;
        bound = (range >>> 11) * p;
        if (code < bound) {
          range = bound;
          literal[i] = p + ((2048 - p) >>> 5);
          sym <<= 1;
        } else {
          range -= bound;
          code -= bound;
          literal[i] = p - (p >>> 5);
          sym = (sym << 1) | 1;
        }
        if (range < 0x0100_0000) {
          if (inPos >= inEnd) return this.truncated();
          range *= 256;
          code = ((code << 8) | input[inPos++]!) >>> 0;
        }
      }
      out[pos++] = sym & 0xff;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
    }
    rc[0] = range;
    rc[1] = code;
    this.inPos = inPos;
    this.outPos = pos;
    this.state = state;
    return matched;
  }

  private truncated(): never {
    throw new DecompressError('truncated LZMA data (input ended inside the range coder)');
  }

  /**
   * Decodes until `limit` bytes of output exist or an end marker is found (returns true for
   * the marker). `allowEndMarker` is false for LZMA2, whose chunks have known sizes.
   */
  decode(limit: number, allowEndMarker: boolean): boolean {
    const out = this.out;
    if (limit > out.length) throw new DecompressError(`LZMA output would exceed the ${out.length} bytes announced`);
    if (this.pendingLen > 0) this.copyMatch(this.rep0, this.pendingLen, limit);
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    const lc = this.lc;
    while (this.outPos < limit) {
      // Literals, with the range coder in locals (most symbols are literals); returns at a match.
      if (!this.literals(limit, pbMask, lpMask, lc)) break;
      const pos = this.outPos;
      const posState = pos & pbMask;
      const state = this.state;
      let len: number;
      if (this.bit(this.isRep, state) === 0) {
        len = this.length(this.lenModel, posState);
        this.state = state < 7 ? 7 : 10;
        const dist = this.distance(len);
        if (dist === 0xffff_ffff) {
          if (!allowEndMarker) throw new DecompressError('corrupt LZMA data (end marker inside an LZMA2 chunk)');
          return true;
        }
        this.rep3 = this.rep2;
        this.rep2 = this.rep1;
        this.rep1 = this.rep0;
        this.rep0 = dist;
      } else {
        if (pos === this.dictStart) throw new DecompressError('corrupt LZMA data (repeated match at the start of the data)');
        if (this.bit(this.isRepG0, state) === 0) {
          if (this.bit(this.isRep0Long, (state << 4) | posState) === 0) {
            // Short rep: one byte at distance rep0.
            this.state = state < 7 ? 9 : 11;
            if (this.rep0 >= pos - this.dictStart) throw new DecompressError('corrupt LZMA data (short rep before the start of the data)');
            out[pos] = out[pos - this.rep0 - 1]!;
            this.outPos = pos + 1;
            continue;
          }
        } else {
          let dist: number;
          if (this.bit(this.isRepG1, state) === 0) {
            dist = this.rep1;
          } else {
            if (this.bit(this.isRepG2, state) === 0) {
              dist = this.rep2;
            } else {
              dist = this.rep3;
              this.rep3 = this.rep2;
            }
            this.rep2 = this.rep1;
          }
          this.rep1 = this.rep0;
          this.rep0 = dist;
        }
        len = this.length(this.repLenModel, posState);
        this.state = state < 7 ? 8 : 11;
      }
      this.copyMatch(this.rep0, len + MIN_MATCH, limit);
    }
    return false;
  }
}
