import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, type BusDevice } from '../../cpu/bus.js';
import type { VmStop } from '../../cpu/vm.js';
import { ResetControl } from '../legacy/reset-control.js';
import { PciBus, type PciFunction } from './pci-bus.js';
import { PCI_COMMAND_IO, PCI_COMMAND_MEMORY, PciConfigSpace } from './pci-config.js';
import { PciHostBridge, createHostBridgeFunction } from './pci-host-bridge.js';

function machine() {
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const stops: VmStop[] = [];
  const reset = new ResetControl({ requestStop: (s) => stops.push(s) });
  const bus = new PciBus(pio, mmio);
  bus.attach(0, 0, createHostBridgeFunction());
  pio.register(0xcf8, 8, new PciHostBridge(bus, reset), 'pci');
  const cfg = (d: number, f: number, reg: number) => pio.writeValue(0xcf8, 4, (0x8000_0000 | (d << 11) | (f << 8) | reg) >>> 0);
  return { pio, mmio, stops, bus, cfg };
}

test('mechanism #1: dword latch at 0xcf8, data at 0xcfc-0xcff, host bridge at 00:00.0, empty slots all-ones', () => {
  const { pio, cfg } = machine();
  pio.writeValue(0xcf8, 4, 0xffff_ffff);
  assert.equal(pio.readValue(0xcf8, 4), 0x80ff_fffc, 'reserved bits 30:24 and 1:0 read 0');
  cfg(0, 0, 0);
  assert.equal(pio.readValue(0xcfc, 4), 0x0008_1b36);
  assert.equal(pio.readValue(0xcfe, 2), 0x0008);
  assert.equal(pio.readValue(0xcfd, 1), 0x1b);
  cfg(0, 0, 8);
  assert.equal(pio.readValue(0xcfc, 4) >>> 8, 0x060000, 'class: host bridge');
  cfg(1, 0, 0);
  assert.equal(pio.readValue(0xcfc, 4), 0xffff_ffff);
  pio.writeValue(0xcf8, 4, 0x8001_0000); // bus 1
  assert.equal(pio.readValue(0xcfc, 2), 0xffff);
  pio.writeValue(0xcf8, 4, 0x0000_0000); // enable clear
  assert.equal(pio.readValue(0xcfc, 4), 0xffff_ffff);
  // Linux's type 1 probe: a byte write at 0xcfb does not disturb the latch.
  pio.writeValue(0xcf8, 4, 0x8000_0000);
  pio.writeValue(0xcfb, 1, 0x01);
  assert.equal(pio.readValue(0xcf8, 4), 0x8000_0000);
  assert.equal(pio.readValue(0xcf8, 1), 0xff, 'byte reads of 0xcf8 are not the latch');
});

test('0xcf9 stays the reset control: byte writes with RST_CPU reset, the dword latch does not', () => {
  const { pio, stops } = machine();
  pio.writeValue(0xcf8, 4, 0x8000_0604);
  assert.equal(stops.length, 0);
  pio.writeValue(0xcf9, 1, 0x02);
  assert.equal(pio.readValue(0xcf9, 1), 0x02);
  pio.writeValue(0xcf9, 1, 0x06);
  assert.deepEqual(stops, [{ kind: 'reset', source: 'cf9' }]);
});

class Regs implements BusDevice {
  readonly seen: string[] = [];
  read(offset: number, data: Uint8Array): void {
    data.fill(offset & 0xff);
  }
  write(offset: number, data: Uint8Array): void {
    this.seen.push(`${offset}:${data[0]}`);
  }
}

test('a function with BARs: the OS sizes, assigns and enables them and they appear on the buses', () => {
  const { pio, mmio, bus, cfg } = machine();
  const io = new Regs();
  const mem = new Regs();
  const moves: string[] = [];
  const fn: PciFunction = {
    name: 'test device',
    config: new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1000, classCode: 0xff0000, interruptPin: 1 }),
    barDevice: (i) => (i === 0 ? io : mem),
    barMoved: (i, r) => moves.push(`${i}:${r ? r.base.toString(16) : '-'}`),
  };
  fn.config.addBar(0, { kind: 'io', size: 0x40 });
  fn.config.addBar(1, { kind: 'mem64', size: 0x4000 });
  bus.attach(3, 0, fn);
  const w = (reg: number, v: number) => {
    cfg(3, 0, reg);
    pio.writeValue(0xcfc, 4, v);
  };
  const r = (reg: number) => {
    cfg(3, 0, reg);
    return pio.readValue(0xcfc, 4);
  };
  w(0x10, 0xffff_ffff);
  assert.equal(r(0x10), 0xffff_ffc1);
  w(0x14, 0xffff_ffff);
  w(0x18, 0xffff_ffff);
  assert.equal(r(0x14), 0xffff_c004);
  w(0x10, 0xc000);
  w(0x14, 0xfebf_0000);
  w(0x18, 0);
  assert.equal(pio.claims(0xc000), false, 'nothing decodes before COMMAND enables it');
  w(0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
  assert.equal(pio.readValue(0xc005, 1), 5);
  assert.equal(mmio.readValue(0xfebf_0010, 1), 0x10);
  pio.writeValue(0xc001, 1, 0x77);
  assert.deepEqual(io.seen, ['1:119']);
  // Moving the I/O BAR unmaps the old range.
  w(0x10, 0xd000);
  assert.equal(pio.claims(0xc000), false);
  assert.equal(pio.readValue(0xd002, 1), 2);
  w(0x04, 0);
  assert.equal(mmio.claims(0xfebf_0000), false);
  assert.deepEqual(moves, ['0:c000', '1:febf0000', '0:d000', '0:-', '1:-']);
  assert.deepEqual(bus.list(), [{ devfn: 0, name: 'host bridge' }, { devfn: 24, name: 'test device' }]);
  assert.throws(() => bus.attach(3, 0, fn), /taken/);
  assert.throws(() => bus.attach(4, 1, fn), /function 0 first/);
});
