import type { EmuPmuHook } from '../../cpu/emu/cpu.js';
import type { MsrValue } from '../../cpu/emu/chips/chip-types.js';

/**
 * Samples a vCPU's instruction pointer every `every` retired instructions, exactly, by
 * riding the emulator's PMU seam: the core never runs a block past
 * `instructionsUntilOverflow`, so the sample lands right after the N-th instruction.
 * The guest's own PMU (if any) keeps working: every call is passed through.
 */
export class InstructionSampler implements EmuPmuHook {
  private left: number;
  /** Sampled RIPs as the emulator keeps them (signed: kernel-half addresses are negative, and exact). */
  readonly ips: number[] = [];
  readonly user: boolean[] = [];

  constructor(
    private readonly every: number,
    private readonly readIp: () => number,
    private readonly inner: EmuPmuHook | null,
  ) {
    this.left = every;
  }

  get active(): boolean {
    return true;
  }

  countBlock(plain: number, branches: number, cpl: number): void {
    if (this.inner !== null && this.inner.active) this.inner.countBlock(plain, branches, cpl);
    this.left -= plain + branches;
    while (this.left <= 0) {
      const ip = this.readIp();
      this.ips.push(ip);
      this.user.push(cpl === 3);
      this.left += this.every;
    }
  }

  instructionsUntilOverflow(cpl: number): number {
    const own = Math.max(1, this.left);
    if (this.inner === null || !this.inner.active) return own;
    return Math.min(own, this.inner.instructionsUntilOverflow(cpl));
  }

  isPmuMsr(index: number): boolean {
    return this.inner !== null && this.inner.isPmuMsr(index);
  }
  readMsr(index: number, out: MsrValue): boolean {
    return this.inner !== null && this.inner.readMsr(index, out);
  }
  writeMsr(index: number, lo: number, hi: number): boolean {
    return this.inner !== null && this.inner.writeMsr(index, lo, hi);
  }
  rdpmc(ecx: number, cpl: number, cr4Pce: boolean, out: MsrValue): boolean {
    return this.inner !== null && this.inner.rdpmc(ecx, cpl, cr4Pce, out);
  }
}
