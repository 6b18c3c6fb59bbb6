/**
 * The decoder's dispatch arrays, built once from the rows: per decode mode (16/32/64-bit) and
 * opcode map, a cell per opcode byte holding the rows that share it, grouped by mandatory
 * prefix and ordered most specific first. Rows whose CPUID feature the model does not
 * advertise (and that are not explicitly ungated) are kept aside only to name the #UD.
 */
import type { Insn } from '../insn.js';
import { ALL_MODES, PFX_66, PFX_ANY, PFX_F2, PFX_F3, PFX_NF, PFX_NP, TableError, isSse, matchKey, type Row } from './row.js';

/** Prefix classes in the order they are tried (mandatory prefixes before prefix-tolerant rows). */
const CLASS_ORDER = [PFX_F3, PFX_F2, PFX_66, PFX_NP, PFX_NF, PFX_ANY] as const;

export interface Cell {
  /** The opcode takes a ModRM byte (all rows of a cell agree, per mode). */
  readonly modrm: boolean;
  /** Rows per prefix class (index PFX_*), most specific first; null when the class has none. */
  readonly byPfx: (readonly Row[] | null)[];
  /** Per class: SSE rows (66 may not accompany a mandatory F2/F3). */
  readonly sse: boolean[];
  /** Rows left out because their feature is not advertised (for the #UD's name). */
  readonly gated: readonly Row[];
  /**
   * The rows the decoder tries (pickRow), in order, per combination of prefixes (index `candidateIndex`): the lists
   * of the classes that accept them (CLASS_ORDER) one after the other, so that decoding walks no class (empty: none).
   */
  readonly cand: readonly (readonly Row[])[];
}

/** Index of Cell.cand for the prefixes (66 present, rep: 0 none, 1 F3, 2 F2). */
export function candidateIndex(opsz: boolean, rep: number): number {
  return rep * 2 + (opsz ? 1 : 0);
}

export interface Dispatch {
  /** [mode 0-2][map * 256 + opcode]: undefined = no row in this mode. */
  readonly cells: readonly (readonly (Cell | undefined)[])[];
  /** [map * 256 + opcode]: true when some mode has rows (so an empty cell is invalid, not unknown). */
  readonly known: readonly boolean[];
  /**
   * What decoding reads of the cells, flat (fewer objects to touch an instruction): [mode][key * CANDIDATES +
   * candidateIndex] the cell's `cand` list (empty where there is no cell), [mode][key] its CellBits (0: no cell).
   */
  readonly cand: readonly (readonly (readonly Row[])[])[];
  readonly bits: readonly Uint8Array[];
}

/** Cell.cand lists per cell: one per combination of 66 (2) and rep (none, F3, F2). */
export const CANDIDATES = 6;

/** Dispatch.bits of a cell. */
export const enum CellBits {
  Exists = 1,
  Modrm = 2,
  /** Some rows are gated out (named by the #UD when no row matches). */
  Gated = 4,
}

function specificity(r: Row): number {
  return (r.rm >= 0 ? 16 : 0) + (r.reg >= 0 ? 8 : 0) + (r.mod !== 0 ? 4 : 0) + (r.w >= 0 ? 2 : 0) + (r.b0 ? 1 : 0) + (r.plusR ? 0 : 1);
}

/** Builds the dispatch arrays; `advertised(name)` says whether the CPU model advertises a feature. */
export function buildDispatch(rows: readonly Row[], advertised: (feature: string) => boolean): Dispatch {
  const cells: (Cell | undefined)[][] = [];
  const known: boolean[] = new Array<boolean>(4 * 256).fill(false);
  const flatCand: (readonly Row[])[][] = [];
  const bits: Uint8Array[] = [];
  const none: readonly Row[] = [];
  for (let mode = 0; mode < 3; mode++) {
    const bit = 1 << mode;
    const acc = new Map<number, { live: Row[]; gated: Row[] }>();
    for (const r of rows) {
      if ((r.modes & ALL_MODES & bit) === 0) continue;
      const ops = r.plusR ? [0, 1, 2, 3, 4, 5, 6, 7].map((k) => r.op + k) : [r.op];
      for (const op of ops) {
        const key = r.map * 256 + op;
        known[key] = true;
        let e = acc.get(key);
        if (e === undefined) acc.set(key, (e = { live: [], gated: [] }));
        const gatedOut = r.feature !== null && r.ungated === null && !advertised(r.feature);
        (gatedOut ? e.gated : e.live).push(r);
      }
    }
    const arr = new Array<Cell | undefined>(4 * 256).fill(undefined);
    for (const [key, e] of acc) {
      const all = [...e.live, ...e.gated];
      const modrm = all[0]!.modrm;
      if (all.some((r) => r.modrm !== modrm)) throw new TableError(`opcode ${key.toString(16)}: rows disagree on ModRM in mode ${mode}`);
      const byPfx: (Row[] | null)[] = [null, null, null, null, null, null];
      const sse = [false, false, false, false, false, false];
      for (const r of e.live) {
        (byPfx[r.pfx] ??= []).push(r);
        if (isSse(r)) sse[r.pfx] = true;
      }
      for (const list of byPfx) list?.sort((a, b) => specificity(b) - specificity(a));
      const cand: Row[][] = [];
      for (let rep = 0; rep < 3; rep++) {
        for (const opsz of [false, true]) {
          const rows: Row[] = [];
          for (const k of CLASS_ORDER) if (byPfx[k] !== null && accepts(sse, k, opsz, rep)) rows.push(...byPfx[k]!);
          cand[candidateIndex(opsz, rep)] = rows;
        }
      }
      arr[key] = { modrm, byPfx, sse, gated: e.gated, cand };
    }
    cells.push(arr);
    const flat = new Array<readonly Row[]>(4 * 256 * CANDIDATES).fill(none);
    const b = new Uint8Array(4 * 256);
    arr.forEach((cell, key) => {
      if (cell === undefined) return;
      cell.cand.forEach((list, i) => (flat[key * CANDIDATES + i] = list));
      b[key] = CellBits.Exists | (cell.modrm ? CellBits.Modrm : 0) | (cell.gated.length > 0 ? CellBits.Gated : 0);
    });
    flatCand.push(flat);
    bits.push(b);
  }
  return { cells, known, cand: flatCand, bits };
}

/** Whether prefix class `k` accepts the instruction's prefixes (66 present, rep: 0 none, 1 F3, 2 F2). */
export function classAccepts(cell: Cell, k: number, opsz: boolean, rep: number): boolean {
  return accepts(cell.sse, k, opsz, rep);
}

function accepts(sse: readonly boolean[], k: number, opsz: boolean, rep: number): boolean {
  switch (k) {
    case PFX_F3:
      return rep === 1 && (!sse[k] || !opsz);
    case PFX_F2:
      return rep === 2 && (!sse[k] || !opsz);
    case PFX_66:
      return opsz && rep === 0;
    case PFX_NP:
      return !opsz && rep === 0;
    case PFX_NF:
      return rep === 0;
    default:
      return true;
  }
}

/** Whether row `r` matches the decoded ModRM fields, REX.W and REX.B. */
export function rowMatches(r: Row, x: Insn, rexW: boolean, rexB: number): boolean {
  return (matchKey(x.reg, x.mod, x.rm, rexW, rexB) & r.matchMask) === r.matchVal;
}

/** The first of `rows` (a Cell.cand list) whose constraints `key` (matchKey) meets, or null. */
export function pickRow(rows: readonly Row[], key: number): Row | null {
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if ((key & r.matchMask) === r.matchVal) return r;
  }
  return null;
}

/** A gated-out row that would have matched (names the #UD), or null. */
export function gatedMatch(cell: Cell, x: Insn, opsz: boolean, rep: number, rexW: boolean, rexB: number): Row | null {
  for (const r of cell.gated) {
    const k = r.pfx;
    const ok = k === PFX_F3 ? rep === 1 : k === PFX_F2 ? rep === 2 : k === PFX_66 ? opsz && rep === 0 : k === PFX_NP ? !opsz && rep === 0 : k === PFX_NF ? rep === 0 : true;
    if (ok && rowMatches(r, x, rexW, rexB)) return r;
  }
  return null;
}
