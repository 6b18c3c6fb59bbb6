/**
 * A small x86-64 encoder for the instruction forms the random generator produces:
 * legacy prefixes, REX, opcode, ModRM/SIB/displacement, immediate. Encoding here
 * (rather than assembling with `as`) keeps generation fast and deterministic.
 * Facts from SDM Vol. 2 §2.1-2.2 (ModRM/SIB tables, REX prefix).
 */

/** A register operand: encoding number 0..15; `high` selects AH/CH/DH/BH (number 4..7, no REX allowed). */
export interface RegOperand {
  kind: 'reg';
  r: number;
  high?: boolean;
}

/** A memory operand. base/index -1 = none; base -2 = RIP-relative. */
export interface MemOperand {
  kind: 'mem';
  base: number;
  index: number;
  scale: 1 | 2 | 4 | 8;
  disp: number;
  /** 0x67 prefix: 32-bit address size. */
  addr32?: boolean;
}

/**
 * A memory operand with 16-bit addressing (SDM Vol. 2 Table 2-1): rm 0 [BX+SI], 1 [BX+DI],
 * 2 [BP+SI], 3 [BP+DI], 4 [SI], 5 [DI], 6 [BP] (mod 0: disp16 alone), 7 [BX]; mod 1 disp8, mod 2 disp16.
 */
export interface Mem16Operand {
  kind: 'mem16';
  rm: number;
  mod: 0 | 1 | 2;
  disp: number;
}

export type RmOperand = RegOperand | MemOperand | Mem16Operand;

export const reg = (r: number, high = false): RegOperand => ({ kind: 'reg', r, high });

export interface Encoding {
  /** Bytes before everything else (e.g. 0xF3 REP, 0xF0 LOCK). */
  legacy?: number[];
  /** Operand size 16 (0x66). */
  opsize16?: boolean;
  /** REX.W. */
  rexW?: boolean;
  /** Byte-register instruction: registers 4..7 without `high` need a REX prefix (SPL..DIL). */
  byteRegs?: boolean;
  /** Only the r/m operand is a byte register (MOVZX/MOVSX r, r/m8). */
  byteRmOnly?: boolean;
  opcode: number[];
  /** ModRM.reg: a register operand or an opcode extension (/digit). */
  reg?: RegOperand | number;
  rm?: RmOperand;
  /** Immediate bytes, little-endian. */
  imm?: number[];
}

export class EncodeError extends Error {
  override readonly name = 'EncodeError';
}

function immBytes(value: bigint, bytes: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(bytes * 8, value);
  for (let i = 0; i < bytes; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}
export { immBytes };

const fitsI8 = (v: number): boolean => v >= -128 && v <= 127;

/** Outside 64-bit mode there is no REX (40-4F are INC/DEC): encode() refuses to emit one. */
let noRex = false;
export function setEncoderMode32(on: boolean): void {
  noRex = on;
}

export function encode(e: Encoding): Uint8Array {
  const out: number[] = [];
  const legacy = e.legacy ?? [];
  out.push(...legacy);
  if (e.rm?.kind === 'mem' && e.rm.addr32) out.push(0x67);
  if (e.opsize16) out.push(0x66);

  let rexW = e.rexW ? 1 : 0;
  let rexR = 0;
  let rexX = 0;
  let rexB = 0;
  let needRex = false;
  let forbidRex = false;

  let regField = 0;
  if (typeof e.reg === 'number') regField = e.reg;
  else if (e.reg) {
    regField = e.reg.r & 7;
    rexR = e.reg.r >> 3;
    if (e.byteRegs && !e.byteRmOnly) {
      if (e.reg.high) forbidRex = true;
      else if (e.reg.r >= 4 && e.reg.r <= 7) needRex = true;
    }
  }

  const modrm: number[] = [];
  if (e.rm) {
    if (e.rm.kind === 'reg') {
      rexB = e.rm.r >> 3;
      if (e.byteRegs) {
        if (e.rm.high) forbidRex = true;
        else if (e.rm.r >= 4 && e.rm.r <= 7) needRex = true;
      }
      modrm.push(0xc0 | (regField << 3) | (e.rm.r & 7));
    } else if (e.rm.kind === 'mem16') {
      const m = e.rm;
      const dispBytes = m.mod === 1 ? 1 : m.mod === 2 || (m.mod === 0 && m.rm === 6) ? 2 : 0;
      modrm.push((m.mod << 6) | (regField << 3) | m.rm, ...immBytes(BigInt(m.disp), dispBytes));
    } else {
      const m = e.rm;
      if (m.base === -2) {
        if (m.index !== -1) throw new EncodeError('RIP-relative addressing takes no index');
        modrm.push((regField << 3) | 5, ...immBytes(BigInt(m.disp), 4));
      } else if (m.base === -1) {
        // SIB with base=101 and mod=00: disp32, no base.
        const idx = m.index === -1 ? 4 : m.index;
        if (m.index === 4) throw new EncodeError('RSP cannot be an index');
        rexX = idx >> 3;
        const ss = [1, 2, 4, 8].indexOf(m.scale);
        modrm.push((regField << 3) | 4, (ss << 6) | ((idx & 7) << 3) | 5, ...immBytes(BigInt(m.disp), 4));
      } else {
        rexB = m.base >> 3;
        const needSib = m.index !== -1 || (m.base & 7) === 4;
        let mod: number;
        let dispBytes: number[];
        if (m.disp === 0 && (m.base & 7) !== 5) {
          mod = 0;
          dispBytes = [];
        } else if (fitsI8(m.disp)) {
          mod = 1;
          dispBytes = immBytes(BigInt(m.disp), 1);
        } else {
          mod = 2;
          dispBytes = immBytes(BigInt(m.disp), 4);
        }
        if (needSib) {
          if (m.index === 4) throw new EncodeError('RSP cannot be an index');
          const idx = m.index === -1 ? 4 : m.index;
          rexX = idx >> 3;
          const ss = [1, 2, 4, 8].indexOf(m.scale);
          modrm.push((mod << 6) | (regField << 3) | 4, (ss << 6) | ((idx & 7) << 3) | (m.base & 7), ...dispBytes);
        } else {
          modrm.push((mod << 6) | (regField << 3) | (m.base & 7), ...dispBytes);
        }
      }
    }
  }

  const rex = 0x40 | (rexW << 3) | (rexR << 2) | (rexX << 1) | rexB;
  if (rex !== 0x40) needRex = true;
  if (needRex && forbidRex) throw new EncodeError('AH/CH/DH/BH cannot be encoded with a REX prefix');
  if (needRex && noRex) throw new EncodeError('this instruction needs a REX prefix, which does not exist in 32-bit mode');
  if (needRex) out.push(rex);
  out.push(...e.opcode, ...modrm, ...(e.imm ?? []));
  return Uint8Array.from(out);
}

/** Opcode with the register in its low 3 bits (BSWAP, XCHG rAX, MOV r,imm). */
export function encodeOpReg(opts: { legacy?: number[]; opsize16?: boolean; rexW?: boolean; prefix?: number[]; base: number; r: number; imm?: number[] }): Uint8Array {
  const out: number[] = [...(opts.legacy ?? [])];
  if (opts.opsize16) out.push(0x66);
  const rex = 0x40 | ((opts.rexW ? 1 : 0) << 3) | (opts.r >> 3);
  if (rex !== 0x40 && noRex) throw new EncodeError('this instruction needs a REX prefix, which does not exist in 32-bit mode');
  if (rex !== 0x40) out.push(rex);
  out.push(...(opts.prefix ?? []), opts.base + (opts.r & 7), ...(opts.imm ?? []));
  return Uint8Array.from(out);
}
