/**
 * The APIC bus: how interrupt messages reach local APICs. The IOAPIC and the local APICs'
 * ICRs send messages here; the bus picks destinations (physical / logical flat / logical
 * cluster / x2APIC cluster, shorthands, broadcast) and carries EOI messages back to the
 * IOAPIC. Delivery is synchronous, so a sender's delivery-status bit is never seen busy.
 */

/** Delivery modes (ICR / LVT / redirection entry bits 10:8). */
export const APIC_DM_FIXED = 0;
export const APIC_DM_LOWEST = 1;
export const APIC_DM_SMI = 2;
export const APIC_DM_NMI = 4;
export const APIC_DM_INIT = 5;
export const APIC_DM_STARTUP = 6;
export const APIC_DM_EXTINT = 7;

/** ICR destination shorthands (bits 19:18). */
export const APIC_SH_NONE = 0;
export const APIC_SH_SELF = 1;
export const APIC_SH_ALL_INCL_SELF = 2;
export const APIC_SH_ALL_EXCL_SELF = 3;

/** What the bus needs from a local APIC. */
export interface ApicBusTarget {
  /** Does this APIC match `dest` (x2Format: a 32-bit x2APIC destination, else an 8-bit xAPIC one)? */
  matchesDestination(dest: number, logical: boolean, x2Format: boolean): boolean;
  /** Present on the bus (globally enabled). A globally disabled APIC receives nothing. */
  readonly onBus: boolean;
  /** Software-enabled (SVR bit 8): takes part in lowest-priority arbitration. */
  readonly softwareEnabled: boolean;
  /** Processor priority, for lowest-priority arbitration. */
  processorPriority(): number;
  /** Accepts a message that selected this APIC; false when it was dropped (fixed message to a software-disabled APIC). */
  accept(deliveryMode: number, vector: number, levelTrigger: boolean, assert: boolean): boolean;
}

/** One interrupt message on the bus. */
export interface ApicMessage {
  vector: number;
  deliveryMode: number;
  logical: boolean;
  dest: number;
  /** The destination is a 32-bit x2APIC ID/cluster (sent from an x2APIC-mode ICR). */
  x2Format: boolean;
  levelTrigger: boolean;
  /** Level (ICR bit 14): false only for the INIT level de-assert message. */
  assert: boolean;
  shorthand: number;
}

export class ApicBus {
  private readonly targets: ApicBusTarget[] = [];
  /** Called for every EOI of a level-triggered vector (the IOAPIC's EOI message). */
  eoiListener: ((vector: number) => void) | undefined;

  attach(target: ApicBusTarget): void {
    this.targets.push(target);
  }

  get size(): number {
    return this.targets.length;
  }

  /**
   * Delivers a message; `source` is the sending APIC (for shorthands), undefined for the
   * IOAPIC. Returns how many APICs accepted it.
   * Lowest priority: the bus arbitrates among the selected, software-enabled APICs by
   * lowest processor priority (PPR); ties go to the first in attach order (APIC ID order).
   * Focus-processor checking is not modelled.
   */
  deliver(msg: ApicMessage, source: ApicBusTarget | undefined): number {
    const ts = this.targets;
    let n = 0;
    if (msg.deliveryMode === APIC_DM_LOWEST) {
      let best: ApicBusTarget | undefined;
      let bestPpr = 0x100;
      for (let i = 0; i < ts.length; i++) {
        const t = ts[i]!;
        if (!t.softwareEnabled || !this.selects(t, msg, source)) continue;
        const p = t.processorPriority();
        if (p < bestPpr) {
          best = t;
          bestPpr = p;
        }
      }
      return best && best.accept(APIC_DM_FIXED, msg.vector, msg.levelTrigger, msg.assert) ? 1 : 0;
    }
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (!this.selects(t, msg, source)) continue;
      if (t.accept(msg.deliveryMode, msg.vector, msg.levelTrigger, msg.assert)) n++;
    }
    return n;
  }

  private selects(t: ApicBusTarget, msg: ApicMessage, source: ApicBusTarget | undefined): boolean {
    switch (msg.shorthand) {
      case APIC_SH_SELF:
        return t === source;
      case APIC_SH_ALL_INCL_SELF:
        return t === source || t.onBus;
      case APIC_SH_ALL_EXCL_SELF:
        return t !== source && t.onBus;
      default:
        return t.onBus && t.matchesDestination(msg.dest, msg.logical, msg.x2Format);
    }
  }

  /** EOI message from a local APIC for a level-triggered vector. */
  broadcastEoi(vector: number): void {
    this.eoiListener?.(vector);
  }
}
