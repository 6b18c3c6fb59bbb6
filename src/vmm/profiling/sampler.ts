import type { EmuPmuHook } from '../../cpu/emu/cpu.js';
import type { MsrValue } from '../../cpu/emu/chips/chip-types.js';

/** Distinct sampled addresses kept per sampler; later new ones are only counted (a guest can run at any address). */
export const MAX_DISTINCT_IPS = 1 << 20;

/**
 * Samples a vCPU's instruction pointer every `every` retired instructions, exactly, by
 * riding the emulator's PMU seam: the core never runs a block past
 * `instructionsUntilOverflow`, so the sample lands right after the N-th instruction.
 * The guest's own PMU (if any) keeps working: every call is passed through.
 *
 * Samples are counted per address (kernel and user apart), so memory is bounded by the number
 * of distinct addresses (at most MAX_DISTINCT_IPS), not by the length of the run; `keepSequence`
 * also keeps every sample in order (for tools that look at a timeline, and for short runs).
 */
export class InstructionSampler implements EmuPmuHook {
  private left: number;
  /** Sampled RIPs in order, as the emulator keeps them (signed: kernel-half addresses are negative, and exact); only with keepSequence. */
  readonly ips: number[] = [];
  readonly user: boolean[] = [];
  /** Samples per address at CPL 0-2 and at CPL 3. */
  readonly kernelCounts = new Map<number, number>();
  readonly userCounts = new Map<number, number>();
  /** Samples whose address was new after MAX_DISTINCT_IPS distinct ones. */
  uncounted = 0;
  total = 0;
  private readonly keepSequence: boolean;

  constructor(
    private readonly every: number,
    private readonly readIp: () => number,
    private readonly inner: EmuPmuHook | null,
    options: { keepSequence?: boolean } = {},
  ) {
    this.left = every;
    this.keepSequence = options.keepSequence === true;
  }

  get active(): boolean {
    return true;
  }

  countBlock(plain: number, branches: number, cpl: number): void {
    if (this.inner !== null && this.inner.active) this.inner.countBlock(plain, branches, cpl);
    this.left -= plain + branches;
    while (this.left <= 0) {
      this.sample(this.readIp(), cpl === 3);
      this.left += this.every;
    }
  }

  private sample(ip: number, user: boolean): void {
    this.total++;
    if (this.keepSequence) {
      this.ips.push(ip);
      this.user.push(user);
    }
    const map = user ? this.userCounts : this.kernelCounts;
    const n = map.get(ip);
    if (n !== undefined) map.set(ip, n + 1);
    else if (this.kernelCounts.size + this.userCounts.size < MAX_DISTINCT_IPS) map.set(ip, 1);
    else this.uncounted++;
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
