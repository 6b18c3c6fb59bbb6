/**
 * Test support: encodes one instance of a table row (its mandatory prefix, opcode map and
 * opcode, a ModRM satisfying its reg/mod/rm constraints, REX.W when the row needs it, and
 * immediates sized by its operands), so tests can walk the whole table.
 */
import { MAP_0F, MAP_0F38, MAP_0F3A, MOD_MEM, MOD_REG, PFX_66, PFX_F2, PFX_F3, type Row } from './row.js';

export interface RowInstance {
  bytes: Uint8Array;
  /** The instance has a memory operand. */
  mem: boolean;
  /** Operand size the decoder computes for it. */
  osz: number;
}

export interface EncodeOptions {
  /** Decode mode: 0 16-bit, 1 32-bit, 2 64-bit. */
  mode: number;
  /** Prefer a memory operand (ModRM mod 0, [rBX] or [BX]) where the row allows one. */
  mem?: boolean;
  /** Add a LOCK prefix. */
  lock?: boolean;
  /** ModRM.reg for rows that leave it free (default 2). */
  reg?: number;
  /** ModRM.rm for register forms that leave it free (default 3 = rBX, or 1 with memory). */
  rm?: number;
  /** Immediate bytes fill (default 1, 2, 3, ...). */
  imm?: (k: number) => number;
  /** Bytes of an Ob/Ov moffs (default 0). */
  moffs?: number;
}

function immSize(kind: string, size: string, osz: number, asz: number): number {
  switch (kind) {
    case 'I':
      if (size === 'b' || size === 'bs') return 1;
      if (size === 'w') return 2;
      if (size === 'v') return osz === 8 ? 8 : osz === 2 ? 2 : 4;
      return osz === 2 ? 2 : 4;
    case 'J':
      return size === 'b' ? 1 : osz === 2 ? 2 : 4;
    case 'A':
      return (osz === 4 ? 4 : 2) + 2;
    case 'O':
      return asz;
    default:
      return 0;
  }
}

/** The operand size the decoder will compute for `r` with these prefixes. */
export function rowOsz(r: Row, mode: number, has66: boolean, rexW: boolean): number {
  const base = mode === 2 ? (rexW ? 8 : has66 ? 2 : 4) : (mode === 1) !== has66 ? 4 : 2;
  switch (r.osz) {
    case 'b':
      return 1;
    case 'w':
      return 2;
    case 'd':
      return 4;
    case 'q':
      return 8;
    case 'd64':
      return mode === 2 ? (has66 && !rexW ? 2 : 8) : base;
    case 'f64':
      return mode === 2 ? 8 : base;
    case 'z64':
      return base === 8 ? 4 : base;
    case 'y':
      return rexW ? 8 : 4;
    default:
      return base;
  }
}

/** Encodes an instance of row `r`, or null when the row has no encoding in `o.mode`. */
export function encodeRow(r: Row, o: EncodeOptions): RowInstance | null {
  if (r.map < 0 || (r.modes & (1 << o.mode)) === 0) return null;
  const out: number[] = [];
  if (o.lock === true) out.push(0xf0);
  const has66 = r.pfx === PFX_66;
  if (has66) out.push(0x66);
  if (r.pfx === PFX_F3) out.push(0xf3);
  if (r.pfx === PFX_F2) out.push(0xf2);
  const rexW = r.w === 1;
  if (o.mode === 2 && rexW) out.push(0x48);
  if (o.mode !== 2 && rexW) return null;
  if (r.map === MAP_0F) out.push(0x0f);
  else if (r.map === MAP_0F38) out.push(0x0f, 0x38);
  else if (r.map === MAP_0F3A) out.push(0x0f, 0x3a);
  out.push(r.plusR ? r.op + 1 : r.op);
  let mem = false;
  if (r.modrm) {
    mem = r.mod === MOD_MEM || (o.mem === true && r.mod !== MOD_REG && !r.forceReg);
    const reg = r.reg >= 0 ? r.reg : (o.reg ?? 2);
    if (mem) out.push((reg << 3) | (o.mode === 0 ? 7 : 3));
    else out.push(0xc0 | (reg << 3) | (r.rm >= 0 ? r.rm : (o.rm ?? 3)));
  }
  const osz = rowOsz(r, o.mode, has66, rexW);
  const asz = o.mode === 2 ? 8 : o.mode === 1 ? 4 : 2;
  let k = 0;
  const fill = o.imm ?? ((i: number) => i + 1);
  let first = true;
  for (const op of r.ops) {
    let n = immSize(op.kind, op.size, osz, asz);
    if (op.kind === 'I' && !first) n = 1; // ENTER's second immediate
    if (op.kind === 'I') first = false;
    if (op.kind === 'O') {
      let v = o.moffs ?? 0;
      for (let j = 0; j < n; j++) {
        out.push(v & 0xff);
        v = Math.floor(v / 256);
      }
      continue;
    }
    for (let j = 0; j < n; j++) out.push(fill(k++) & 0xff);
  }
  return { bytes: Uint8Array.from(out), mem, osz };
}
