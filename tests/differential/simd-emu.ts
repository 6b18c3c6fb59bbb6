/**
 * Runs FX cases under emu: the snippet runner with the case's SSE state (XMM0-15, MXCSR)
 * loaded into the CPU first and the state read back into an FXSAVE-layout image after, the
 * same image the native harness returns. CR4 gets OSFXSR, OSXMMEXCPT and OSXSAVE and XCR0
 * enables x87 and SSE state, as under Linux.
 */
import type { EmuSnippetRunner } from '../../src/cpu/emu/testing/snippet-runner.js';
import { CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE } from '../../src/cpu/emu/x86-defs.js';
import { fxrstorX87 } from '../../src/cpu/emu/fpu/x87-env.js';
import type { X87Bus } from '../../src/cpu/emu/fpu/x87-core.js';
import { FX_XMM, fxMxcsr, setFxMxcsr, type FxCase, type FxResult } from './simd-case.js';

/** The FXSAVE image as the x87 state loader reads it (offsets are addresses). */
function imageBus(v: DataView): X87Bus {
  return {
    rd8: (a) => v.getUint8(a),
    rd16: (a) => v.getUint16(a, true),
    rd32: (a) => v.getInt32(a, true),
    wr8: (a, x) => v.setUint8(a, x),
    wr16: (a, x) => v.setUint16(a, x, true),
    wr32: (a, x) => v.setInt32(a, x, true),
    add: (a, k) => a + k,
    probeWrite: () => {},
  };
}

export function runEmuFx(runner: EmuSnippetRunner, c: FxCase, budget?: number): FxResult {
  const cpu = runner.cpu;
  cpu.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE;
  cpu.xcr0 = 3;
  const view = new DataView(c.fx.buffer, c.fx.byteOffset, c.fx.byteLength);
  fxrstorX87(cpu.x87, imageBus(view), 0, true);
  for (let k = 0; k < 64; k++) cpu.xmm[k] = view.getInt32(FX_XMM + k * 4, true);
  cpu.mxcsr = fxMxcsr(c.fx);
  const r = runner.run(c, budget);
  const fx = c.fx.slice();
  const out = new DataView(fx.buffer);
  for (let k = 0; k < 64; k++) out.setInt32(FX_XMM + k * 4, cpu.xmm[k]!, true);
  setFxMxcsr(fx, cpu.mxcsr);
  return { ...r, fx };
}
