/** 32-bit hardware task switches (task gates, far JMP/CALL to a TSS, IRET with NT). */
import type { EmuCpu } from './cpu.js';
import { SEG_ATTR_UNUSABLE } from '../registers.js';
import { CR0_PG, CR0_TS, EFER_LMA, VEC_NP, VEC_TS, Seg, Pow, Tlb } from './x86-defs.js';
import { gp, raise, unimplemented } from './exceptions.js';
import { loadFromDesc, loadSeg, readDescriptor } from './segmentation.js';
import { rd32, wr16, wr32 } from './mem-access.js';
import { getFlags, setFlagsRaw } from './lazy-flags.js';
import { Bit } from './flags.js';
import { writeCr3 } from './control-regs.js';
import { flushTlb } from './tlb.js';

/**
 * Hardware task switch to the 32-bit TSS selected by `sel` (SDM vol. 3 7.3): `kind` 'jmp' and
 * 'iret' clear the old task's busy bit; 'call' (CALL, INT, exceptions) links back and sets NT.
 * `retIp` is the EIP saved in the old task. Legacy mode only (long mode has no task switching).
 */
export function taskSwitch(c: EmuCpu, sel: number, kind: 'jmp' | 'call' | 'iret', retIp: number): void {
  if ((c.efer & EFER_LMA) !== 0) return gp(c, sel & 0xfffc);
  if ((sel & 4) !== 0) return raise(c, VEC_TS, sel & 0xfffc);
  const nAddr = readDescriptor(c, sel, VEC_TS);
  const nlo = c.dlo;
  const nhi = c.dhi;
  const ntype = (nhi >>> 8) & 0x1f;
  if (ntype !== 0x9 && ntype !== 0xb) {
    if (ntype === 0x1 || ntype === 0x3) unimplemented(c, '16-bit TSS task switch');
    return gp(c, sel & 0xfffc);
  }
  if (kind === 'iret' ? ntype !== 0xb : ntype !== 0x9) return gp(c, sel & 0xfffc);
  if ((nhi & 0x8000) === 0) return raise(c, VEC_NP, sel & 0xfffc);
  const limit = (nlo & 0xffff) | (nhi & 0xf0000);
  if (limit < 0x67) return raise(c, VEC_TS, sel & 0xfffc);
  c.tlbUser = 0;
  try {
    // Save the outgoing task.
    const ot = c.segBase[Seg.TR]!;
    const w = (off: number, v: number): void => wr32(c, (ot + off) % Pow.Two32, v);
    let fl = getFlags(c);
    if (kind !== 'call') fl &= ~Bit.NT;
    w(0x20, retIp);
    w(0x24, fl);
    for (let r = 0; r < 8; r++) w(0x28 + r * 4, c.gpr[r << 1]!);
    for (let sr = 0; sr < 6; sr++) w(0x48 + sr * 4, c.segSel[sr]!);
    if (kind !== 'call') {
      // Clear the old task's busy bit.
      const oAddr = readDescriptor(c, c.segSel[Seg.TR]!);
      wr32(c, (oAddr + 4) % Pow.Two32, c.dhi & ~0x200);
    }
    // Read the incoming task.
    const nt = ((nhi & 0xff000000) | ((nhi & 0xff) << 16) | (nlo >>> 16)) >>> 0;
    const rd = (off: number): number => rd32(c, (nt + off) % Pow.Two32);
    const cr3 = rd(0x1c) >>> 0;
    const eip = rd(0x20) >>> 0;
    let nfl = rd(0x24);
    const gprs: number[] = [];
    for (let r = 0; r < 8; r++) gprs.push(rd(0x28 + r * 4));
    const sels: number[] = [];
    for (let sr = 0; sr < 6; sr++) sels.push(rd(0x48 + sr * 4) & 0xffff);
    const ldt = rd(0x60) & 0xffff;
    if (kind === 'call') {
      wr16(c, nt, c.segSel[Seg.TR]!);
      nfl |= Bit.NT;
    }
    if (kind !== 'iret') wr32(c, (nAddr + 4) % Pow.Two32, nhi | 0x200);
    // Switch: TR, CR3, registers, flags.
    c.dlo = nlo;
    c.dhi = nhi | 0x200;
    loadFromDesc(c, Seg.TR, sel);
    if ((c.cr0 & CR0_PG) !== 0) writeCr3(c, cr3);
    for (let r = 0; r < 8; r++) c.gpr[r << 1] = gprs[r]!;
    setFlagsRaw(c, nfl | 2);
    c.cr0 |= CR0_TS;
    c.rip = eip;
    // LDTR, then segments (CPL from the new CS RPL); a fault here is #TS in the new task.
    if ((ldt & 0xfffc) === 0) {
      c.segSel[Seg.LDTR] = ldt;
      c.segAttr[Seg.LDTR] = SEG_ATTR_UNUSABLE;
    } else {
      readDescriptor(c, ldt, VEC_TS);
      loadFromDesc(c, Seg.LDTR, ldt);
    }
    const cs = sels[Seg.CS]!;
    readDescriptor(c, cs, VEC_TS);
    loadFromDesc(c, Seg.CS, cs);
    c.updateMode();
    loadSeg(c, Seg.SS, sels[Seg.SS]!);
    for (const sr of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) loadSeg(c, sr, sels[sr]!);
  } finally {
    c.tlbUser = c.cpl === 3 ? Tlb.Size : 0;
  }
  flushTlb(c, false);
}
