/**
 * The seam between the emulator's CPU core and its interrupt controllers and timers
 * (the chips KVM keeps in the kernel). The core only sees these interfaces; the chips
 * never see the core.
 */

/** Virtual time for the chips. In deterministic mode it derives from the instruction count. */
export interface EmuClock {
  /** Current virtual time in nanoseconds since VM start (monotonic, may be fractional). */
  nowNs(): number;
  /** Nominal TSC frequency in Hz (the TSC reads nowNs * tscHz / 1e9). */
  readonly tscHz: number;
}

/** Result slot for 64-bit MSR reads without allocation: lo/hi 32-bit halves. */
export interface MsrValue {
  lo: number;
  hi: number;
}

/** What one vCPU core needs from its local APIC. */
export interface LocalApicPort {
  readonly apicId: number;
  /** A maskable interrupt is deliverable now (IRR above PPR, or ExtINT from the PIC through LINT0). The core still checks RFLAGS.IF and the interrupt shadow. */
  hasInterrupt(): boolean;
  /** Accepts the highest-priority deliverable interrupt and returns its vector (IRR->ISR, or the PIC's INTA cycle for ExtINT). */
  acknowledge(): number;
  /** Returns true once per pending NMI (LINT1, NMI IPI), clearing it. */
  takeNmi(): boolean;
  /** An NMI is pending (not yet taken): it wakes a halted vCPU whatever IF says. */
  hasNmi(): boolean;
  /** Returns true once per INIT received: the core resets and waits for SIPI (the BSP ignores INIT only after reset rules say so). */
  takeInit(): boolean;
  /** The vector of a SIPI received while waiting for SIPI, or -1; clears it. */
  takeSipi(): number;
  /** IA32_APIC_BASE MSR (bit 8 BSP, bit 10 x2APIC enable, bit 11 global enable, base at bits 12+). */
  getApicBase(out: MsrValue): void;
  /** Returns false (#GP) for an illegal transition or reserved bits. */
  setApicBase(lo: number, hi: number): boolean;
  /**
   * What the VM's CPU model offers (cpu-model-gates.ts), before the vCPU runs: without x2APIC, IA32_APIC_BASE.EXTD
   * is reserved; without TSC-deadline, the LVT timer's mode bit 18 is not kept (as KVM masks it).
   */
  offerModel(x2apic: boolean, tscDeadline: boolean): void;
  /** xAPIC MMIO page (4 KiB at the APIC base): offset within the page, size 1/2/4. */
  mmioRead(offset: number, size: number): number;
  mmioWrite(offset: number, size: number, value: number): void;
  /** x2APIC MSRs 0x800-0x8ff: false means #GP. */
  readMsr(index: number, out: MsrValue): boolean;
  writeMsr(index: number, lo: number, hi: number): boolean;
  /** IA32_TSC_DEADLINE (0x6e0) in TSC ticks as two halves. */
  getTscDeadline(out: MsrValue): void;
  /** `tscOffset`: what the vCPU's TSC reads above the clock's ticks (nowNs * tscHz / 1e9), so that the deadline is the TSC's. */
  setTscDeadline(lo: number, hi: number, tscOffset?: number): void;
  /** CR8 view of the TPR (TPR[7:4]). */
  getCr8(): number;
  setCr8(value: number): void;
  /** A PMU counter overflowed: deliver through LVTPC (fixed delivery or NMI) and set its mask bit, as hardware does. */
  raisePmi(): void;
  /** Earliest virtual time (ns) at which a timer of this APIC fires, or Infinity. */
  nextDeadlineNs(): number;
  /** Fires timers whose deadline is <= clock.nowNs(). */
  advance(): void;
  /** Optional: the vCPU is in wait-for-SIPI (an AP after power-up or INIT; false for the BSP, which restarts at the reset vector after INIT). */
  readonly waitingForSipi?: boolean;
  /** Optional: the xAPIC MMIO page is decoded (IA32_APIC_BASE EN=1, EXTD=0); otherwise the page is ordinary memory/bus space. */
  readonly mmioActive?: boolean;
  /** Optional hook: called when something arrives that may wake a halted vCPU (interrupt, NMI, INIT, SIPI, PIC INTR). */
  wakeListener?: (() => void) | undefined;
}

/** What the emulator VM needs from the whole chip set (PIC pair, IOAPIC, PIT, APIC bus). */
export interface EmuChipSet {
  /** The local APIC of vCPU `index`. */
  localApic(index: number): LocalApicPort;
  /** Drives GSI `gsi` (ISA IRQs 0-15 reach the PIC and the IOAPIC, 16-23 the IOAPIC). */
  setIrq(gsi: number, level: boolean): void;
  /** Delivers a message-signalled interrupt on the APIC bus; false when no APIC accepted it. */
  deliverMsi(address: number, data: number): boolean;
  /** Earliest timer deadline across all chips (PIT, every APIC timer), or Infinity. */
  nextDeadlineNs(): number;
  /** Fires every expired timer. */
  advance(): void;
  /**
   * Optional (hang detection): whether an interrupt, NMI, INIT or SIPI may still reach vCPU `index` while
   * every vCPU stands still: something pending, an armed unmasked timer, or an unmasked input a device can
   * drive. False only when nothing can arrive; a chip set without this is assumed able to interrupt.
   */
  mayInterrupt?(index: number): boolean;
}
