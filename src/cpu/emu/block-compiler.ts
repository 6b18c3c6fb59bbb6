/**
 * Block compiler: turns a hot decoded block into one JavaScript function (via the
 * Function constructor) that runs its instructions back to back. Hot register forms are
 * emitted inline with their register numbers and immediates as constants, and lazy-flag
 * stores that a later instruction of the block overwrites are dropped (flags stay exact
 * at every point where they can be observed: before any call, fault or block exit).
 * Every other instruction calls its interpreter handler, so behaviour is identical.
 *
 * Contract with EmuCpu.execBlock: the function sets `c.ci` to the index of the
 * instruction it is about to run whenever that instruction can fault or call out, and
 * to the instruction count when it completes; after a handler call it returns early
 * with `c.ci` = next index if the block was invalidated (self-modifying code).
 */
import type { EmuCpu } from './cpu.js';
import { K_ADD_RR, K_SUB_RR, K_CMP_RR, K_LOGIC_RR, K_ADD_RI, K_SUB_RI, K_CMP_RI, K_LOGIC_RI, K_INCDEC_R, K_MOV_RR, K_JNZ, K_JZ } from './x86-defs.js';
import type { Block, Insn } from './insn.js';
import { shift32ri, mov32load, mov32store, aluGE, aluEG, aluEI, testEG, testEI, movRI, movEI, lea, movzx, movEG, movGE, negE, notE } from './ops-alu.js';
import { ea } from './operands.js';
import { EA_32 } from './insn.js';
import { jcc } from './ops-flow.js';
import { arith, cond, getCF, getZF, szp } from './lazy-flags.js';
import { rd8, rd16, rd32, wr8, wr16, wr32 } from './mem-access.js';
import { checkSeg } from './segmentation.js';
import { canonicalTarget } from './address.js';

/** The engine functions compiled code calls (bound once per compiled function as constants of its closure). */
const RUNTIME = { arith, canonicalTarget, checkSeg, cond, getCF, getZF, rd8, rd16, rd32, szp, wr8, wr16, wr32 };
const RUNTIME_NAMES = Object.keys(RUNTIME).join(', ');

/** Runs of a block before it is compiled. */
export const COMPILE_THRESHOLD = 40;

const canCompile = typeof Function === 'function';

type Flow = 'none' | 'write' | 'read' | 'rw' | 'opaque';

/** 64-bit register forms: ALU (ADD SUB CMP AND OR XOR) reg/reg or reg/imm, and MOV reg, reg. */
function wideKind(x: Insn): 'alu-rr' | 'alu-ri' | 'mov' | '' {
  if (x.osz !== 8 || x.mod !== 3) return '';
  const op = x.op;
  const aluOk = op === 0 || op === 1 || op === 4 || op === 5 || op === 6 || op === 7;
  if ((x.fn === aluEG || x.fn === aluGE) && aluOk) return 'alu-rr';
  if (x.fn === aluEI && aluOk) return 'alu-ri';
  if (x.fn === movEG || x.fn === movGE) return 'mov';
  return '';
}

/** Register-only forms emitted inline besides the K_* kinds. */
function simpleKind(x: Insn): 'test' | 'movri' | 'lea' | 'movzx' | 'neg' | 'not' | '' {
  if (x.fn === negE && x.mod === 3 && x.osz === 4) return 'neg';
  if (x.fn === notE && x.mod === 3 && x.osz === 4) return 'not';
  if (x.fn === testEG && x.mod === 3 && x.osz === 4) return 'test';
  if (x.fn === testEI && x.mod === 3 && x.osz === 4) return 'test';
  if (x.fn === movRI && x.osz === 4) return 'movri';
  if (x.fn === lea && x.osz === 4 && x.ak === EA_32) return 'lea';
  if (x.fn === movzx && x.mod === 3 && x.osz === 4) return 'movzx';
  return '';
}

/** 32-bit memory forms emitted inline: they may fault, so liveness treats them as opaque. */
function memKind(x: Insn): 'load' | 'store' | 'alu-load' | 'cmp-mi' | 'cmp-mi8' | 'st' | 'ldzx' | '' {
  if (x.mod === 3) return '';
  if (x.fn === mov32load) return 'load';
  if (x.fn === mov32store) return 'store';
  if ((x.fn === movEG || x.fn === movEI) && x.osz <= 4) return 'st';
  if (x.fn === movzx && x.osz === 4) return 'ldzx';
  if (x.fn === aluGE && x.osz === 4 && (x.op === 0 || x.op === 1 || x.op === 4 || x.op === 5 || x.op === 6 || x.op === 7)) return 'alu-load';
  if (x.fn === aluEI && x.osz === 4 && x.op === 7) return 'cmp-mi';
  if (x.fn === aluEI && x.osz === 1 && x.op === 7) return 'cmp-mi8';
  return '';
}

/** JS for the linear address of x's memory operand into `a${k}` (32-bit forms inline, others via ea()). */
function eaCode(x: Insn, k: number): string {
  if (x.ak !== EA_32) return `const a${k} = EA(c, I[${k}]);`;
  let off = `${x.disp | 0}`;
  if (x.base >= 0) off += ` + rl[${x.base}]`;
  if (x.index >= 0) off += ` + (rl[${x.index}] << ${x.scale})`;
  return (
    `const o${k} = (${off}) >>> 0; if (c.segChk[${x.seg}] !== 0) checkSeg(c, ${x.seg}, o${k}, ${x.msz}, ${x.mw}); ` +
    `let a${k} = c.segBase[${x.seg}] + o${k}; if (a${k} >= 4294967296) a${k} -= 4294967296;`
  );
}

function flowOf(x: Insn): Flow {
  switch (x.k) {
    case K_ADD_RR:
    case K_SUB_RR:
    case K_CMP_RR:
    case K_LOGIC_RR:
    case K_ADD_RI:
    case K_SUB_RI:
    case K_CMP_RI:
    case K_LOGIC_RI:
      return 'write';
    case K_INCDEC_R:
      return 'rw';
    case K_MOV_RR:
      return 'none';
    case K_JNZ:
    case K_JZ:
      return 'read';
    default:
      if (x.fn === shift32ri) return x.op === 0 || x.op === 1 ? 'rw' : 'write';
      if (simpleKind(x) === 'test' || simpleKind(x) === 'neg') return 'write';
      if (wideKind(x) === 'mov') return 'none';
      if (wideKind(x) !== '') return 'write';
      if (simpleKind(x) !== '') return 'none';
      if (x.fn === jcc) return 'read';
      return 'opaque';
  }
}

/** Compiles `blk`; returns null when the block has nothing worth compiling or codegen is unavailable. */
export function compileBlock(blk: Block): ((c: EmuCpu) => void) | null {
  if (!canCompile) return null;
  const ins = blk.insns;
  const n = ins.length;
  let inlineCount = 0;
  for (const x of ins) if (flowOf(x) !== 'opaque' || memKind(x) !== '') inlineCount++;
  if (inlineCount === 0) return null;
  // Backward liveness of the lazy flags.
  const live = new Array<boolean>(n).fill(true);
  let isLive = true;
  for (let k = n - 1; k >= 0; k--) {
    const x = ins[k]!;
    const f = flowOf(x);
    live[k] = isLive;
    // INC/DEC and ROL/ROR only read flags to merge them into their own flag result: when that
    // result is dead they are emitted without flag code and neither read nor write flags.
    if (f === 'rw' && !isLive && (x.k === K_INCDEC_R || x.fn === shift32ri)) continue;
    if (f === 'write') isLive = false;
    else if (f === 'read' || f === 'rw' || f === 'opaque') isLive = true;
  }
  const last = ins[n - 1]!;
  // A block whose last instruction branches back to its start, or to a later instruction `head` of
  // it (a loop entered by falling through some setup code), with only inline instructions from
  // there on loops inside the function. Loops entered mid-block must not store (no self-modifying
  // code check inside them) and keep liveness linear: the back edge is treated as a block exit.
  let head = -1;
  if (last.k === K_JNZ || last.k === K_JZ || last.fn === jcc) {
    const t = last.end + last.imm;
    for (let k = 0; k < n; k++) if (ins[k]!.start === t) head = k;
  }
  const selfLoop =
    head >= 0 &&
    ins.every((x, k) => {
      if (k < head) return true;
      const mk = memKind(x);
      if (head > 0 && (mk === 'st' || mk === 'store')) return false;
      return flowOf(x) !== 'opaque' || mk !== '';
    });
  const out: string[] = ['const rl = c.rl, rh = c.rh;'];
  // Name of the local holding the last inline flag producer's result (for ZF tests) and its kind.
  let lastRes = '';
  let lastLogic = false;
  /** Index of the last inline 32-bit SUB/CMP whose d/s/r locals give exact conditions, or -1. */
  let lastCmp = -1;
  for (let k = 0; k < n; k++) {
    const x = ins[k]!;
    if (selfLoop && k === head) {
      out.push('let it = 0; const lim = c.loopLimit;', 'for (;;) {');
      // Reached from the back edge too: no producer known.
      lastRes = '';
      lastLogic = false;
      lastCmp = -1;
    }
    const A = x.rm;
    const B = x.reg;
    const fl = live[k]!;
    const r = `r${k}`;
    const flagStore = (op: number, d: string, s: string): string => (fl ? `c.fop = ${op}; c.fsz = 4; c.fdst = ${d}; c.fsrc = ${s}; c.fres = ${r};` : '');
    switch (x.k) {
      case K_ADD_RR:
      case K_SUB_RR:
      case K_ADD_RI:
      case K_SUB_RI: {
        const sub = x.k === K_SUB_RR || x.k === K_SUB_RI;
        const s = x.k === K_ADD_RR || x.k === K_SUB_RR ? `rl[${B}]` : `${x.imm | 0}`;
        out.push(`const d${k} = rl[${A}], s${k} = ${s}; const ${r} = (d${k} ${sub ? '-' : '+'} s${k}) | 0; rl[${A}] = ${r}; rh[${A}] = 0; ${flagStore(sub ? 3 : 1, `d${k}`, `s${k}`)}`);
        lastRes = r;
        lastLogic = false;
        lastCmp = sub ? k : -1;
        break;
      }
      case K_CMP_RR:
      case K_CMP_RI: {
        const s = x.k === K_CMP_RR ? `rl[${B}]` : `${x.imm | 0}`;
        out.push(`const d${k} = rl[${A}], s${k} = ${s}; const ${r} = (d${k} - s${k}) | 0; ${flagStore(3, `d${k}`, `s${k}`)}`);
        lastRes = r;
        lastLogic = false;
        lastCmp = k;
        break;
      }
      case K_LOGIC_RR:
      case K_LOGIC_RI: {
        const s = x.k === K_LOGIC_RR ? `rl[${B}]` : `${x.imm | 0}`;
        const op = x.op === 1 ? '|' : x.op === 4 ? '&' : '^';
        out.push(`const ${r} = rl[${A}] ${op} ${s}; rl[${A}] = ${r}; rh[${A}] = 0; ${fl ? `c.fop = 5; c.fsz = 4; c.fres = ${r};` : ''}`);
        lastRes = r;
        lastLogic = true;
        lastCmp = -1;
        break;
      }
      case K_INCDEC_R: {
        const cf = lastLogic && lastRes !== '' ? '0' : 'getCF(c)';
        if (!fl) out.push(`const ${r} = (rl[${A}] ${x.op === 0 ? '+' : '-'} 1) | 0; rl[${A}] = ${r}; rh[${A}] = 0;`);
        else out.push(`const d${k} = rl[${A}]; const ${r} = (d${k} ${x.op === 0 ? '+' : '-'} 1) | 0; c.fcin = ${cf}; rl[${A}] = ${r}; rh[${A}] = 0; c.fop = ${x.op === 0 ? 6 : 7}; c.fsz = 4; c.fdst = d${k}; c.fsrc = 1; c.fres = ${r};`);
        lastRes = r;
        lastLogic = false;
        lastCmp = -1;
        break;
      }
      case K_MOV_RR:
        out.push(`rl[${A}] = rl[${B}]; rh[${A}] = 0;`);
        break;
      case K_JNZ:
      case K_JZ: {
        const zf = lastRes !== '' ? `(${lastRes} === 0)` : '(getZF(c) !== 0)';
        const want = x.k === K_JZ ? '' : '!';
        // A 64-bit target can fault (#GP for a non-canonical address): record the index first.
        if (x.osz === 8) out.push(`c.ci = ${k};`);
        if (selfLoop && k === n - 1) out.push(`if (${want}${zf}) { if (++it < lim) continue; it--; c.rip = ${target(x)}; } break; }`, 'c.loops = it;');
        else out.push(`if (${want}${zf}) c.rip = ${target(x)};`);
        break;
      }
      default: {
        const wk = wideKind(x);
        if (wk === 'mov') {
          // MOV r64, r64 (movEG: rm <- reg; movGE: reg <- rm)
          const [dst, src] = x.fn === movEG ? [A, B] : [B, A];
          out.push(`rl[${dst}] = rl[${src}]; rh[${dst}] = rh[${src}];`);
          break;
        }
        if (wk !== '') {
          // dst op= src on (lo, hi) halves; aluGE writes the reg operand, aluEG/aluEI the rm operand.
          const dst = x.fn === aluGE ? B : A;
          const sl = wk === 'alu-ri' ? `${x.imm | 0}` : `rl[${x.fn === aluGE ? A : B}]`;
          const sh = wk === 'alu-ri' ? `${x.immHi | 0}` : `rh[${x.fn === aluGE ? A : B}]`;
          const op = x.op;
          out.push(`const dl${k} = rl[${dst}], dh${k} = rh[${dst}], sl${k} = ${sl}, sh${k} = ${sh};`);
          if (op === 0) out.push(`const t${k} = (dl${k} >>> 0) + (sl${k} >>> 0); const ${r}l = t${k} | 0; const ${r}h = (dh${k} + sh${k} + (t${k} > 0xffffffff ? 1 : 0)) | 0;`);
          else if (op === 5 || op === 7) out.push(`const t${k} = (dl${k} >>> 0) - (sl${k} >>> 0); const ${r}l = t${k} | 0; const ${r}h = (dh${k} - sh${k} - (t${k} < 0 ? 1 : 0)) | 0;`);
          else {
            const sym = op === 1 ? '|' : op === 4 ? '&' : '^';
            out.push(`const ${r}l = dl${k} ${sym} sl${k}; const ${r}h = dh${k} ${sym} sh${k};`);
          }
          if (op !== 7) out.push(`rl[${dst}] = ${r}l; rh[${dst}] = ${r}h;`);
          if (fl) {
            const kind = op === 0 ? 1 : op === 5 || op === 7 ? 3 : 5;
            out.push(`c.fop = ${kind}; c.fsz = 8; c.fdst = dl${k}; c.fdstH = dh${k}; c.fsrc = sl${k}; c.fsrcH = sh${k}; c.fres = ${r}l; c.fresH = ${r}h;`);
          }
          lastRes = `(${r}l | ${r}h)`;
          lastLogic = false;
          lastCmp = -1;
          break;
        }
        const sk = simpleKind(x);
        if (sk === 'test') {
          const src = x.fn === testEI ? `${x.imm | 0}` : `rl[${B}]`;
          out.push(`const ${r} = rl[${A}] & ${src}; ${fl ? `c.fop = 5; c.fsz = 4; c.fres = ${r};` : ''}`);
          lastRes = r;
          lastLogic = true;
          lastCmp = -1;
          break;
        }
        if (sk === 'neg') {
          // NEG = 0 - d: flags of a SUB with destination 0.
          out.push(`const s${k} = rl[${A}]; const ${r} = (0 - s${k}) | 0; rl[${A}] = ${r}; rh[${A}] = 0; ${fl ? `c.fop = 3; c.fsz = 4; c.fdst = 0; c.fsrc = s${k}; c.fres = ${r};` : ''}`);
          lastRes = r;
          lastLogic = false;
          lastCmp = -1;
          break;
        }
        if (sk === 'not') {
          out.push(`rl[${A}] = ~rl[${A}]; rh[${A}] = 0;`);
          break;
        }
        if (sk === 'movri') {
          out.push(`rl[${A}] = ${x.imm | 0}; rh[${A}] = 0;`);
          break;
        }
        if (sk === 'lea') {
          let off = `${x.disp | 0}`;
          if (x.base >= 0) off += ` + rl[${x.base}]`;
          if (x.index >= 0) off += ` + (rl[${x.index}] << ${x.scale})`;
          out.push(`rl[${B}] = (${off}) | 0; rh[${B}] = 0;`);
          break;
        }
        if (sk === 'movzx') {
          const src = x.imm2 === 2 ? `rl[${A}] & 0xffff` : A < 16 ? `rl[${A}] & 0xff` : `(rl[${A - 16}] >> 8) & 0xff`;
          out.push(`rl[${B}] = ${src}; rh[${B}] = 0;`);
          break;
        }
        const mk = memKind(x);
        if (mk !== '') {
          // Index first (a fault reports this instruction), and the loop count for self-loops.
          out.push(`c.ci = ${k};${selfLoop && k >= head ? ' c.loops = it;' : ''} ${eaCode(x, k)}`);
          if (mk === 'st') {
            const w = x.osz === 1 ? 'wr8' : x.osz === 2 ? 'wr16' : 'wr32';
            const mask = x.osz === 1 ? ' & 0xff' : x.osz === 2 ? ' & 0xffff' : '';
            const v = x.fn === movEI ? `${x.imm | 0}` : x.osz === 1 && B >= 16 ? `(rl[${B - 16}] >> 8) & 0xff` : `rl[${B}]${mask}`;
            out.push(`${w}(c, a${k}, ${v});`);
          } else if (mk === 'cmp-mi8') {
            // CMP byte [m], imm8 (a sieve's `if (!flag[i])`): the lazy flags exactly as CpuEmu.alu() sets them.
            out.push(`const d${k} = rd8(c, a${k}), s${k} = ${x.imm | 0}; const ${r} = (d${k} - s${k}) & 0xff; ${fl ? `c.fop = 3; c.fsz = 1; c.fdst = d${k}; c.fsrc = s${k}; c.fres = ${r};` : ''}`);
            // ZF from the masked result; other conditions from the stored flags.
            lastRes = r;
            lastLogic = false;
            lastCmp = -1;
          } else if (mk === 'ldzx') out.push(`rl[${B}] = ${x.imm2 === 1 ? 'rd8' : 'rd16'}(c, a${k}); rh[${B}] = 0;`);
          else if (mk === 'load') out.push(`rl[${B}] = rd32(c, a${k}); rh[${B}] = 0;`);
          else if (mk === 'store') out.push(`wr32(c, a${k}, rl[${B}]);`);
          else if (mk === 'cmp-mi') {
            out.push(`const d${k} = rd32(c, a${k}), s${k} = ${x.imm | 0}; const ${r} = (d${k} - s${k}) | 0; ${flagStore(3, `d${k}`, `s${k}`)}`);
            lastRes = r;
            lastLogic = false;
            lastCmp = k;
          } else {
            const op = x.op;
            const dst = `rl[${B}]`;
            if (op === 7 || op === 0 || op === 5) {
              const sub = op !== 0;
              out.push(`const d${k} = ${dst}, s${k} = rd32(c, a${k}); const ${r} = (d${k} ${sub ? '-' : '+'} s${k}) | 0; ${op === 7 ? '' : `${dst} = ${r}; rh[${B}] = 0;`} ${flagStore(sub ? 3 : 1, `d${k}`, `s${k}`)}`);
              lastLogic = false;
              lastCmp = sub ? k : -1;
            } else {
              const sym = op === 1 ? '|' : op === 4 ? '&' : '^';
              out.push(`const ${r} = ${dst} ${sym} rd32(c, a${k}); ${dst} = ${r}; rh[${B}] = 0; ${fl ? `c.fop = 5; c.fsz = 4; c.fres = ${r};` : ''}`);
              lastLogic = true;
              lastCmp = -1;
            }
            lastRes = r;
          }
          break;
        }
        if (x.fn === shift32ri && x.op !== 0 && x.op !== 1) {
          // SHL/SHR/SAR by a constant: all flags written eagerly.
          const nn = x.imm & 31;
          const expr = x.op === 5 ? `u${k} >>> ${nn}` : x.op === 7 ? `u${k} >> ${nn}` : `u${k} << ${nn}`;
          const cf = x.op === 5 ? `(u${k} >>> ${nn - 1}) & 1` : x.op === 7 ? `(u${k} >> ${nn - 1}) & 1` : `(u${k} >>> ${32 - nn}) & 1`;
          const of = x.op === 5 ? `(u${k} < 0 ? 0x800 : 0)` : x.op === 7 ? '0' : `((${r} >>> 31) ^ cf${k} ? 0x800 : 0)`;
          out.push(`const u${k} = rl[${A}]; const ${r} = (${expr}) | 0; const cf${k} = ${cf}; rl[${A}] = ${r}; rh[${A}] = 0;`);
          if (fl) out.push(`c.fop = 0; c.fres = cf${k} | ${of} | szp(c, 4, ${r});`);
          lastRes = '';
          lastLogic = false;
          lastCmp = -1;
          break;
        }
        if (x.fn === shift32ri) {
          // ROL/ROR: CF/OF from the result, the other flags kept.
          const nn = x.imm & 31;
          const expr = x.op === 0 ? `(u${k} << ${nn}) | (u${k} >>> ${32 - nn})` : `(u${k} >>> ${nn}) | (u${k} << ${32 - nn})`;
          const cf = x.op === 0 ? `${r} & 1` : `${r} >>> 31`;
          const of = x.op === 0 ? `((${r} >>> 31) ^ cf${k})` : `((${r} >>> 31) ^ ((${r} >>> 30) & 1))`;
          if (!fl) out.push(`const u${k} = rl[${A}]; rl[${A}] = (${expr}) | 0; rh[${A}] = 0;`);
          else out.push(`const u${k} = rl[${A}]; const ${r} = (${expr}) | 0; const cf${k} = ${cf}; c.fres = (arith(c) & ~0x801) | cf${k} | (${of} ? 0x800 : 0); c.fop = 0; rl[${A}] = ${r}; rh[${A}] = 0;`);
          lastRes = '';
          lastLogic = false;
          lastCmp = -1;
          break;
        }
        if (x.fn === jcc) {
          const cc = x.op;
          let cond = '';
          if (lastCmp >= 0) {
            const d = `d${lastCmp}`;
            const sv = `s${lastCmp}`;
            const rr = `r${lastCmp}`;
            cond = [``, `(${d} >>> 0) < (${sv} >>> 0)`, `${rr} === 0`, `(${d} >>> 0) <= (${sv} >>> 0)`, `${rr} < 0`, ``, `${d} < ${sv}`, `${d} <= ${sv}`][cc >> 1]!;
          } else if (lastLogic && lastRes !== '') {
            cond = [`false`, `false`, `${lastRes} === 0`, `${lastRes} === 0`, `${lastRes} < 0`, ``, `${lastRes} < 0`, `${lastRes} <= 0`][cc >> 1]!;
          }
          if (cond === '') cond = `cond(c, ${cc})`;
          else if ((cc & 1) !== 0) cond = `!(${cond})`;
          if (x.osz === 8) out.push(`c.ci = ${k};`);
          if (selfLoop && k === n - 1) out.push(`if (${cond}) { if (++it < lim) continue; it--; c.rip = ${target(x)}; } break; }`, 'c.loops = it;');
          else out.push(`if (${cond}) c.rip = ${target(x)};`);
          break;
        }
        out.push(`c.ci = ${k}; I[${k}].fn(c, I[${k}]); if (c.smc) { c.ci = ${k + 1}; return; }`);
        lastRes = '';
        lastLogic = false;
        lastCmp = -1;
      }
    }
  }
  out.push(`c.ci = ${n};`);
  const src = out.join('\n');
  try {
    const factory = new Function('I', 'EA', 'R', `const { ${RUNTIME_NAMES} } = R;\nreturn function block(c) {\n${src}\n};`) as (I: Insn[], EA: typeof ea, R: typeof RUNTIME) => (c: EmuCpu) => void;
    blk.selfLoop = selfLoop;
    blk.loopLen = selfLoop ? n - head : 0;
    return factory(ins, ea, RUNTIME);
  } catch {
    return null;
  }
}

function target(x: Insn): string {
  const t = `c.bip + ${x.end + x.imm}`;
  if (x.osz === 4) return `((${t}) >>> 0)`;
  if (x.osz === 2) return `((${t}) & 0xffff)`;
  return `canonicalTarget(c, ${t})`;
}
