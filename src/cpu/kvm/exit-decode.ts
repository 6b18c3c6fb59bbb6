/**
 * Turns the slow-path KVM exits (anything but IO/MMIO/INTR) into a VmStop with the
 * details the kernel gave, shared by the main-thread loop and the vCPU workers.
 */
import { KVM_EXIT, KVM_EXIT_NAMES, KVM_INTERNAL_ERROR, KVM_SYSTEM_EVENT } from '../../sys/kvm-abi.js';
import { decodeFailEntry, decodeInternalError, decodeSystemEvent } from '../../sys/kvm-structs.js';
import type { VmStop } from '../vm.js';

const SUBERRORS: Readonly<Record<number, string>> = {
  [KVM_INTERNAL_ERROR.EMULATION]: 'instruction emulation failed',
  [KVM_INTERNAL_ERROR.SIMUL_EX]: 'exception while delivering an exception',
  [KVM_INTERNAL_ERROR.DELIVERY_EV]: 'event delivery failed',
  [KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON]: 'unexpected exit reason',
};

const hex = (v: bigint | number): string => '0x' + v.toString(16);

/** The stop for exit `reason` of vCPU `vcpu`, or undefined when the exit is not a stop. `rip` helps the reader. */
export function stopForExit(reason: number, run: Uint8Array, vcpu: number, rip?: bigint): VmStop | undefined {
  const at = rip === undefined ? '' : ` at rip ${hex(rip)}`;
  switch (reason) {
    case KVM_EXIT.SHUTDOWN:
      return { kind: 'shutdown', vcpu, detail: `vCPU ${vcpu} shut down (triple fault)${at}` };
    case KVM_EXIT.FAIL_ENTRY: {
      const f = decodeFailEntry(run);
      return {
        kind: 'fail-entry',
        vcpu,
        detail: `vCPU ${vcpu} could not enter the guest${at}: hardware entry failure reason ${hex(f.hardwareEntryFailureReason)} on host cpu ${f.cpu}`,
      };
    }
    case KVM_EXIT.INTERNAL_ERROR: {
      const e = decodeInternalError(run);
      const what = SUBERRORS[e.suberror] ?? 'unknown';
      let data = e.data.length ? `; data ${e.data.map(hex).join(' ')}` : '';
      // EMULATION with KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES: data[0] flags,
      // then u8 insn_size and 15 instruction bytes packed little-endian into data[1..2].
      if (e.suberror === KVM_INTERNAL_ERROR.EMULATION && e.data.length >= 3 && (e.data[0]! & 1n) === 1n) {
        const packed = new Uint8Array(16);
        const v = new DataView(packed.buffer);
        v.setBigUint64(0, e.data[1]!, true);
        v.setBigUint64(8, e.data[2]!, true);
        const n = Math.min(packed[0]!, 15);
        const bytes = [...packed.subarray(1, 1 + Math.min(n, 8))].map((x) => x.toString(16).padStart(2, '0')).join(' ');
        data = `; instruction bytes ${bytes}${n > 8 ? ' ...' : ''}`;
      }
      return { kind: 'internal-error', vcpu, detail: `KVM internal error on vCPU ${vcpu}${at}: suberror ${e.suberror} (${what})${data}` };
    }
    case KVM_EXIT.SYSTEM_EVENT: {
      const e = decodeSystemEvent(run);
      if (e.type === KVM_SYSTEM_EVENT.RESET) return { kind: 'reset', source: `KVM system event on vCPU ${vcpu}` };
      if (e.type === KVM_SYSTEM_EVENT.SHUTDOWN) return { kind: 'poweroff' };
      if (e.type === KVM_SYSTEM_EVENT.CRASH) return { kind: 'internal-error', vcpu, detail: `guest crash reported by KVM on vCPU ${vcpu}${at}` };
      return { kind: 'internal-error', vcpu, detail: `unhandled KVM system event type ${e.type} on vCPU ${vcpu}` };
    }
    case KVM_EXIT.HLT:
      return { kind: 'hang', detail: `vCPU ${vcpu} halted${at} and no in-kernel interrupt controller can wake it` };
    case KVM_EXIT.IO:
    case KVM_EXIT.MMIO:
    case KVM_EXIT.INTR:
    case KVM_EXIT.IRQ_WINDOW_OPEN:
      return undefined;
    default:
      return { kind: 'internal-error', vcpu, detail: `unexpected KVM exit ${KVM_EXIT_NAMES[reason] ?? reason} on vCPU ${vcpu}${at}` };
  }
}
