/**
 * Runs FX cases under emu: the snippet runner with the case's SSE state (XMM0-15, MXCSR)
 * loaded into the CPU first and the state read back into an FXSAVE-layout image after, the
 * same image the native harness returns. CR4 gets OSFXSR, OSXMMEXCPT and OSXSAVE and XCR0
 * enables x87 and SSE state, as under Linux.
 */
import type { EmuSnippetRunner } from '../../src/cpu/emu/testing/snippet-runner.js';
import { CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE } from '../../src/cpu/emu/x86-defs.js';
import { FX_XMM, fxMxcsr, setFxMxcsr, type FxCase, type FxResult } from './simd-case.js';

export function runEmuFx(runner: EmuSnippetRunner, c: FxCase, budget?: number): FxResult {
  const cpu = runner.cpu;
  cpu.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE;
  cpu.xcr0 = 3;
  const view = new DataView(c.fx.buffer, c.fx.byteOffset, c.fx.byteLength);
  cpu.x87.cw = view.getUint16(0, true);
  cpu.x87.setStatusWord(view.getUint16(2, true));
  cpu.x87.setAbridgedTag(view.getUint8(4));
  for (let k = 0; k < 64; k++) cpu.xmm[k] = view.getInt32(FX_XMM + k * 4, true);
  cpu.mxcsr = fxMxcsr(c.fx);
  const r = runner.run(c, budget);
  const fx = c.fx.slice();
  const out = new DataView(fx.buffer);
  for (let k = 0; k < 64; k++) out.setInt32(FX_XMM + k * 4, cpu.xmm[k]!, true);
  setFxMxcsr(fx, cpu.mxcsr);
  return { ...r, fx };
}
