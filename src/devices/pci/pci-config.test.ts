import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MEMORY, PCI_INTERRUPT_LINE, PCI_INTERRUPT_PIN, PCI_STATUS, PCI_STATUS_CAP_LIST, PciConfigSpace } from './pci-config.js';

const dev = () => new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x020000, revision: 1, subsystemVendorId: 0x1af4, subsystemId: 1, interruptPin: 1 });

test('identity registers are read-only; command takes only its defined bits', () => {
  const c = dev();
  assert.equal(c.read(0, 4), 0x1041_1af4);
  assert.equal(c.read(8, 4), 0x0200_0001);
  c.write(0, 4, 0);
  assert.equal(c.read(0, 4), 0x1041_1af4);
  c.write(PCI_COMMAND, 2, 0xffff);
  assert.equal(c.read(PCI_COMMAND, 2), 0x0547);
  assert.equal(c.read(PCI_INTERRUPT_PIN, 1), 1);
  c.write(PCI_INTERRUPT_PIN, 1, 3);
  assert.equal(c.read(PCI_INTERRUPT_PIN, 1), 1, 'pin is read-only');
  c.write(PCI_INTERRUPT_LINE, 1, 11);
  assert.equal(c.read(PCI_INTERRUPT_LINE, 1), 11);
});

test('BAR sizing: all-ones reads back ~(size-1) with the type bits; 64-bit BARs span two slots', () => {
  const c = dev();
  c.addBar(0, { kind: 'io', size: 0x20 });
  c.addBar(1, { kind: 'mem32', size: 0x1000 });
  c.addBar(2, { kind: 'mem64', size: 0x4000, prefetchable: true });
  for (let i = 0; i < 6; i++) c.write(0x10 + 4 * i, 4, 0xffff_ffff);
  assert.equal(c.read(0x10, 4), 0xffff_ffe1);
  assert.equal(c.read(0x14, 4), 0xffff_f000);
  assert.equal(c.read(0x18, 4), 0xffff_c00c);
  assert.equal(c.read(0x1c, 4), 0xffff_ffff, 'upper half of the 64-bit BAR');
  assert.equal(c.read(0x20, 4), 0, 'undeclared BARs are hard-wired to 0');
  assert.equal(c.barRange(0), undefined, 'no decode while COMMAND.IO is clear');
  c.write(0x10, 4, 0xc040);
  c.write(0x14, 4, 0xfe00_0000);
  c.write(0x18, 4, 0x0000_0000);
  c.write(0x1c, 4, 0x1);
  c.write(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
  assert.deepEqual(c.barRange(0), { space: 'io', base: 0xc040, size: 0x20 });
  assert.deepEqual(c.barRange(1), { space: 'mem', base: 0xfe00_0000, size: 0x1000 });
  assert.deepEqual(c.barRange(2), { space: 'mem', base: 0x1_0000_0000, size: 0x4000 });
  c.write(0x14, 4, 0xffff_ffff);
  assert.equal(c.barRange(1), undefined, 'a BAR being sized decodes nothing');
  assert.throws(() => c.addBar(3, { kind: 'mem32', size: 0x1000 }), /already declared/);
  assert.throws(() => c.addBar(5, { kind: 'mem64', size: 0x1000 }), /does not fit/);
  assert.throws(() => c.addBar(4, { kind: 'mem32', size: 0x1800 }), /power of two/);
});

test('capabilities link from 0x34 with the status bit; writable masks apply to their bodies', () => {
  const c = dev();
  assert.equal(c.read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
  const msix = c.addCapability(0x11, Uint8Array.of(0x03, 0x00, 0x01, 0, 0, 0, 0x01, 0x08, 0, 0), Uint8Array.of(0, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0));
  const vendor = c.addCapability(0x09, Uint8Array.of(4, 0xaa));
  assert.equal(c.read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
  assert.equal(c.read(0x34, 1), msix);
  assert.deepEqual(c.capabilities(), [msix, vendor]);
  assert.equal(c.read(msix + 1, 1), vendor);
  c.write(msix + 2, 2, 0xffff);
  assert.equal(c.read(msix + 2, 2), 0xc003, 'MSI-X enable and function mask are writable, table size is not');
  c.write(vendor, 4, 0);
  assert.equal(c.read(vendor, 1), 0x09);
});

test('status error bits clear when written with 1; interrupt status follows the device', () => {
  const c = dev();
  c.bytes[PCI_STATUS + 1] = 0xf9;
  c.setInterruptStatus(true);
  assert.equal(c.read(PCI_STATUS, 2), 0xf908);
  c.write(PCI_STATUS, 2, 0x2000);
  assert.equal(c.read(PCI_STATUS, 2), 0xd908);
  c.write(PCI_STATUS, 2, 0xffff);
  assert.equal(c.read(PCI_STATUS, 2), 0x0008);
});
