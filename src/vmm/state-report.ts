/**
 * A snapshot in words of a running machine, for a person looking at a guest that seems stuck
 * (`kill -USR1` of a running tsvmm, or Ctrl-A i on its console): each vCPU (where it is, halted or
 * not, interrupts on or off, how far it got), the interrupt path of the serial port (UART, I/O APIC
 * pin, PIC, each local APIC's pending and in-service vectors) and the console's own state.
 * It reads state only: the guest does not notice.
 */
import type { AssembledVm } from './assemble.js';
import type { EmuVm } from '../cpu/emu/emu-vm.js';
import { COM1_IRQ } from '../devices/legacy/uart-16550a.js';
import { EmuChips, ioapicPinFor } from '../cpu/emu/chips/chip-set.js';

const hex = (n: number): string => `0x${(n < 0 ? BigInt.asUintN(64, BigInt(n)) : BigInt(n)).toString(16)}`;

/** The vectors whose bits are set in a 256-bit APIC register (IRR/ISR), as saved (32 bytes). */
function vectors(bits: Uint8Array): number[] {
  const out: number[] = [];
  for (let v = 0; v < 256; v++) if ((bits[v >> 3]! & (1 << (v & 7))) !== 0) out.push(v);
  return out;
}

export function describeMachineState(a: AssembledVm): string {
  const lines: string[] = [];
  if (a.backend === 'emu') {
    const vm = a.vm as EmuVm;
    vm.cpus.forEach((c, i) => {
      const ifOn = (c.flags & 0x200) !== 0;
      lines.push(`vCPU ${i}: rip 0x${c.getRip().toString(16)} cpl ${c.cpl} ${c.halted ? 'halted' : 'running'}, interrupts ${ifOn ? 'on' : 'off'}, ${c.instructions} instructions`);
      const l = vm.chips.localApic(i) as unknown as { saveState?: () => { irr: Uint8Array; isr: Uint8Array; tpr: number; svr: number } };
      if (l.saveState !== undefined) {
        const s = l.saveState();
        lines.push(`  local APIC: IRR [${vectors(s.irr).join(' ')}] ISR [${vectors(s.isr).join(' ')}] TPR ${hex(s.tpr)} SVR ${hex(s.svr)}`);
      }
    });
    // The PC chip set (a VM built with another has no I/O APIC or PIC to show).
    if (vm.chips instanceof EmuChips) lines.push(...describeChips(vm.chips));
  } else {
    lines.push(`${a.backend}: vCPU registers are not shown on this backend`);
  }
  const u = a.devices.uart;
  const s = u.saveState();
  lines.push(
    `COM1: IER ${hex(s.ier)} LCR ${hex(s.lcr)} MCR ${hex(s.mcr)} THRE interrupt ${s.thrInterruptPending ? 'pending' : 'clear'}, ` +
      `RX FIFO ${s.rxFifo.length} byte(s), host input waiting ${u.hostInputPending}, IRQ output ${u.irqAsserted ? 'high' : 'low'}, ${u.bytesTransmitted} bytes sent`,
  );
  return lines.join('\n');
}

function describeChips(chips: EmuChips): string[] {
  const lines: string[] = [];
  const pin = ioapicPinFor(COM1_IRQ);
  const io = chips.ioapic.saveState();
  const e = new DataView(io.lo.buffer, io.lo.byteOffset, io.lo.byteLength).getUint32(pin * 4, true);
  lines.push(
    `I/O APIC pin ${pin} (COM1): vector ${e & 0xff}, ${(e & 0x10000) !== 0 ? 'masked' : 'unmasked'}, ${(e & 0x8000) !== 0 ? 'level' : 'edge'}, ` +
      `remote IRR ${(e >>> 14) & 1}, delivery ${(e & 0x1000) !== 0 ? 'pending' : 'idle'}, input ${io.levels[pin] ? 'high' : 'low'}`,
  );
  const pic = chips.pic.saveState();
  lines.push(`PIC: master IRR ${hex(pic.master.irr)} ISR ${hex(pic.master.isr)} IMR ${hex(pic.master.imr)}; slave IRR ${hex(pic.slave.irr)} ISR ${hex(pic.slave.isr)} IMR ${hex(pic.slave.imr)}`);
  return lines;
}
