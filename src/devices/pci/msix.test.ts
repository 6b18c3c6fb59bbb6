import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import { RecordingIrqLine, RecordingMsiSink } from '../../cpu/irq.js';
import { PciBus } from './pci-bus.js';
import { PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_COMMAND_MEMORY, PCI_INTERRUPT_LINE, PCI_STATUS, PCI_STATUS_INTERRUPT, PciConfigSpace } from './pci-config.js';
import { MSIX_CONTROL_ENABLE, MSIX_CONTROL_FUNCTION_MASK, Msix } from './msix.js';
import type { PciIntxPin } from './pci-intx.js';

function fn(sink = new RecordingMsiSink(), vectors = 3) {
  const config = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x020000, interruptPin: 1 });
  config.addBar(1, { kind: 'mem32', size: 0x1000 });
  const msix = new Msix(config, { vectors, bar: 1, tableOffset: 0, pbaOffset: 0x800 }, sink);
  return { config, msix, sink };
}

test('MSI-X capability: table size, BIR/offsets, only enable and function mask writable', () => {
  const { config, msix } = fn();
  const c = msix.capOffset;
  assert.equal(config.read(c, 1), 0x11);
  assert.equal(config.read(c + 2, 2), 2, 'table size is N - 1');
  assert.equal(config.read(c + 4, 4), 0x0000_0001);
  assert.equal(config.read(c + 8, 4), 0x0000_0801);
  config.write(c + 2, 2, 0xffff);
  assert.equal(config.read(c + 2, 2), 0xc002);
  config.write(c + 4, 4, 0);
  assert.equal(config.read(c + 4, 4), 1);
});

test('MSI-X delivery: masked vectors pend, unmasking sends; function mask; disabled sends nothing', () => {
  const { config, msix, sink } = fn();
  const d = msix.device;
  const w32 = (off: number, v: number) => d.write(off, Uint8Array.of(v, v >>> 8, v >>> 16, v >>> 24));
  const r32 = (off: number) => {
    const b = new Uint8Array(4);
    d.read(off, b);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  };
  assert.equal(r32(12), 1, 'vectors start masked');
  msix.notify(1);
  assert.equal(sink.messages.length, 0, 'MSI-X disabled: nothing, nothing pending');
  assert.equal(msix.isPending(1), false);
  config.write(msix.capOffset + 2, 2, MSIX_CONTROL_ENABLE);
  w32(16, 0xfee0_1000);
  w32(20, 0);
  w32(24, 0x4041);
  msix.notify(1);
  assert.equal(msix.isPending(1), true);
  assert.equal(r32(0x800), 2, 'PBA bit 1');
  w32(28, 0); // unmask vector 1: the pending message goes out
  assert.deepEqual(sink.messages, [{ address: 0xfee0_1000, data: 0x4041 }]);
  assert.equal(r32(0x800), 0);
  msix.notify(1);
  assert.equal(sink.messages.length, 2);
  config.write(msix.capOffset + 2, 2, MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK);
  msix.notify(1);
  assert.equal(sink.messages.length, 2);
  config.write(msix.capOffset + 2, 2, MSIX_CONTROL_ENABLE);
  msix.deliverPending();
  assert.equal(sink.messages.length, 3);
  // Vector control keeps only the mask bit; byte accesses are unsupported; the PBA is read-only.
  w32(28, 0xffff_fffe);
  assert.equal(r32(28), 0);
  const b = Uint8Array.of(0x55);
  d.write(16, b);
  assert.equal(r32(16), 0xfee0_1000);
  d.read(16, b);
  assert.equal(b[0], 0xff);
  w32(0x800, 0xff);
  assert.equal(r32(0x800), 0);
  msix.notify(7);
  assert.equal(sink.messages.length, 3, 'a vector past the table does nothing');
  const saved = msix.saveState();
  msix.reset();
  assert.equal(r32(28), 1);
  msix.restoreState(saved);
  assert.equal(r32(24), 0x4041);
});

test('INTx: the swizzle to GSIs 16-19, shared lines are wired-OR, INTx Disable gates the pin', () => {
  const lines = new Map<number, RecordingIrqLine>();
  const bus = new PciBus(new Bus('pio'), new Bus('mmio'), (gsi) => {
    const l = new RecordingIrqLine(gsi);
    lines.set(gsi, l);
    return l;
  });
  assert.deepEqual([...lines.keys()], [16, 17, 18, 19]);
  const pins: PciIntxPin[] = [];
  const mk = (pin: number) => {
    const config = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1042, classCode: 0x018000, interruptPin: pin });
    return { name: `dev pin ${pin}`, config, attachIntx: (p: PciIntxPin) => pins.push(p) };
  };
  const a = mk(1);
  const b = mk(4);
  bus.attach(2, 0, a); // 2 + 1 - 1 = 2 -> GSI 18
  bus.attach(7, 0, b); // 7 + 4 - 1 = 10 -> 2 -> GSI 18: shared with a
  bus.attach(3, 0, mk(1)); // GSI 19
  assert.deepEqual(pins.map((p) => p.gsi), [18, 18, 19]);
  assert.equal(a.config.read(PCI_INTERRUPT_LINE, 1), 18);
  const line = lines.get(18)!;
  pins[0]!.set(true);
  pins[1]!.set(true);
  assert.equal(line.level, true);
  pins[0]!.set(false);
  assert.equal(line.level, true, 'b still asserts the shared line');
  assert.equal(b.config.read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
  bus.configWrite(7 << 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
  assert.equal(line.level, false, 'INTx Disable drops the pin, the status bit stays');
  assert.equal(b.config.read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
  bus.configWrite(7 << 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  assert.equal(line.level, true);
  pins[1]!.set(false);
  assert.equal(line.level, false);
  assert.equal(line.edges, 2);
});
