/**
 * The decoder's per-row and per-cell precomputations (row.ts steps/memSize/matchMask, dispatch.ts Cell.cand) against
 * the rows' own fields, read the way the decoder read them before they were precomputed: a row's operands as
 * strings, its ModRM/REX constraints field by field, the prefix classes in their order.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { tableRows } from './index.js';
import { CANDIDATES, CellBits, buildDispatch, classAccepts, pickRow, type Cell } from './dispatch.js';
import { MOD_MEM, MOD_REG, PFX_66, PFX_ANY, PFX_F2, PFX_F3, PFX_NF, PFX_NP, Step, matchKey, type Row } from './row.js';
import { emuHasFeature } from '../../../features/emu-cpu-model.js';

const CLASS_ORDER = [PFX_F3, PFX_F2, PFX_66, PFX_NP, PFX_NF, PFX_ANY];

/** The steps of a row's operands, from their strings. */
function refSteps(r: Row): number[] {
  const out: number[] = [];
  let firstImm = true;
  for (const o of r.ops) {
    if (o.kind === 'G' && o.size === 'b') out.push(Step.GByte);
    else if (o.kind === 'E' && o.size === 'b') out.push(Step.EByte);
    else if (o.kind === 'Z') out.push(o.size === 'b' ? Step.ZByte : Step.Z);
    else if (o.kind === 'I') {
      if (!firstImm) out.push(Step.Imm2);
      else if (r.opImm) out.push(Step.ImmOp);
      else out.push({ b: Step.Ib, bs: Step.Ibs, w: Step.Iw, v: Step.Iv }[o.size] ?? Step.Iz);
      firstImm = false;
    } else if (o.kind === 'J') out.push(o.size === 'b' ? Step.Jb : Step.Jz);
    else if (o.kind === 'A') out.push(Step.A);
    else if (o.kind === 'O') out.push(Step.O);
  }
  return out;
}

function unpack(steps: number): number[] {
  const out: number[] = [];
  for (let s = steps; s !== 0; s >>>= 4) out.push(s & 15);
  return out;
}

const MEM_SIZE: Record<string, number> = { b: 1, w: 2, d: 4, q: 8, dq: 16, ps: 16, pd: 16, x: 16 };

test('every row: its decoding steps and memory-operand size are those its operand strings say', () => {
  const problems: string[] = [];
  for (const r of tableRows()) {
    const want = refSteps(r);
    if (unpack(r.steps).join() !== want.join()) problems.push(`${r.mn} (${r.enc}, ${r.operands}): steps ${unpack(r.steps).join()}, operands say ${want.join()}`);
    const m = r.ops.find((o) => o.kind === 'E' || o.kind === 'M' || o.kind === 'W');
    const size = m === undefined ? 0 : (MEM_SIZE[m.size] ?? 0);
    if (r.memSize !== size) problems.push(`${r.mn} (${r.enc}, ${r.operands}): memSize ${r.memSize}, operands say ${size}`);
  }
  assert.deepEqual(problems, []);
  assert.ok(tableRows().some((r) => unpack(r.steps).length >= 2)); // ENTER: Iw then the imm8 level
});

/** Whether row `r` matches ModRM reg/mod/rm and REX.W/B, constraint by constraint. */
function refMatches(r: Row, reg: number, mod: number, rm: number, rexW: boolean, rexB: number): boolean {
  if (r.reg >= 0 && (reg & 7) !== r.reg) return false;
  if (r.mod === MOD_REG ? mod !== 3 : r.mod === MOD_MEM && mod === 3) return false;
  if (r.rm >= 0 && (rm & 7) !== r.rm) return false;
  if (r.w >= 0 && (rexW ? 1 : 0) !== r.w) return false;
  if (r.b0 && rexB !== 0) return false;
  return true;
}

function refSelect(cell: Cell, opsz: boolean, rep: number, reg: number, mod: number, rm: number, rexW: boolean, rexB: number): Row | null {
  for (const k of CLASS_ORDER) {
    const list = cell.byPfx[k];
    if (list === null || list === undefined || !classAccepts(cell, k, opsz, rep)) continue;
    for (const r of list) if (refMatches(r, reg, mod, rm, rexW, rexB)) return r;
  }
  return null;
}

test('every cell, prefix combination and ModRM/REX value: the precomputed candidates select the row the prefix classes select', () => {
  let checked = 0;
  const problems: string[] = [];
  for (const d of [buildDispatch(tableRows(), emuHasFeature), buildDispatch(tableRows(), () => true)]) {
    for (let mode = 0; mode < 3; mode++) {
      d.cells[mode]!.forEach((cell, key) => {
        const bits = d.bits[mode]![key]!;
        if (cell === undefined) {
          if (bits !== 0 || d.cand[mode]!.slice(key * CANDIDATES, (key + 1) * CANDIDATES).some((l) => l.length > 0)) problems.push(`mode ${mode} key ${key.toString(16)}: no cell, but bits or candidates`);
          return;
        }
        const wantBits = CellBits.Exists | (cell.modrm ? CellBits.Modrm : 0) | (cell.gated.length > 0 ? CellBits.Gated : 0);
        if (bits !== wantBits) problems.push(`mode ${mode} cell ${key.toString(16)}: bits ${bits}, want ${wantBits}`);
        if (cell.cand.some((l, i) => d.cand[mode]![key * CANDIDATES + i] !== l)) problems.push(`mode ${mode} cell ${key.toString(16)}: flat candidates are not the cell's`);
        for (let rep = 0; rep < 3; rep++) {
          for (const opsz of [false, true]) {
            const cand = cell.cand[rep * 2 + (opsz ? 1 : 0)]!;
            for (let reg = 0; reg < 16; reg += 1) {
              for (const mod of [0, 3]) {
                for (let rm = 0; rm < 16; rm += 3) {
                  for (const rexW of [false, true]) {
                    for (const rexB of [0, 8]) {
                      const got = pickRow(cand, matchKey(reg, mod, rm, rexW, rexB));
                      const want = refSelect(cell, opsz, rep, reg, mod, rm, rexW, rexB);
                      checked++;
                      if (got !== want && problems.length < 10) problems.push(`mode ${mode} cell ${key.toString(16)} 66=${opsz} rep=${rep} reg=${reg} mod=${mod} rm=${rm} W=${rexW} B=${rexB}: ${got?.mn} (${got?.enc}), want ${want?.mn} (${want?.enc})`);
                    }
                  }
                }
              }
            }
            if ((cand.length > 0) !== CLASS_ORDER.some((k) => cell.byPfx[k] !== null && classAccepts(cell, k, opsz, rep))) problems.push(`mode ${mode} cell ${key.toString(16)}: candidates empty or not against the classes`);
          }
        }
      });
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked > 1_000_000);
});
