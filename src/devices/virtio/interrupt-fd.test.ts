/**
 * VirtioContext.interruptFd: an in-kernel interrupt eventfd (kvm's irqfd) for a queue's MSI-X vector, handed to a
 * device in another process; withdrawn (`lost`, then closed) as soon as the guest rewrites or masks that vector,
 * turns MSI-X off or picks another vector for the queue. The kvm side is stood in for by event channels whose
 * interrupt events carry an fd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import { InProcessEventChannels } from '../../cpu/bus-events.js';
import type { IrqEvent, IrqRoute } from '../../cpu/event-channels.js';
import { TestDriver } from './testing/virtio-driver.test-util.js';
import { CC } from './transport-pci.js';
import type { VirtioContext, VirtioDevice } from './virtio-device.js';

class FdEvents extends InProcessEventChannels {
  readonly made: { route: IrqRoute; fd: number; closed: boolean }[] = [];
  override irqEvent(route: IrqRoute): IrqEvent {
    const e = { route, fd: 100 + this.made.length, closed: false };
    this.made.push(e);
    return { route, fd: e.fd, trigger: () => undefined, setRoute: () => undefined, close: () => void (e.closed = true) };
  }
}

function device(): VirtioDevice & { ctx?: VirtioContext } {
  const d: VirtioDevice & { ctx?: VirtioContext } = {
    deviceType: 2,
    name: 'test device',
    queueSizes: [16, 16],
    features: 0n,
    configSize: 0,
    pciClass: 0x018000,
    readConfig: () => undefined,
    writeConfig: () => undefined,
    activate: (ctx) => void (d.ctx = ctx),
    queueNotified: () => undefined,
    reset: () => void (d.ctx = undefined),
  } as VirtioDevice & { ctx?: VirtioContext };
  return d;
}

test('interruptFd: an in-kernel eventfd for the queue vector while MSI-X is on and unmasked, withdrawn when the guest changes it', () => {
  let events!: FdEvents;
  const dev = device();
  const drv = new TestDriver(dev, { makeEvents: (mmio, deliver) => (events = new FdEvents(new Bus('pio'), mmio, deliver)) });
  assert.equal(drv.init() & 4, 4);
  const ctx = dev.ctx!;
  let lost = 0;
  const fd = ctx.interruptFd!(1, () => lost++);
  // The driver gave queue 1 vector 2: address 0xfee00000, data 0x42.
  assert.equal(fd, events.made.at(-1)!.fd);
  assert.deepEqual(events.made.at(-1)!.route, { kind: 'msi', address: 0xfee0_0000, data: 0x42 });
  // Another vector's table entry: nothing happens to this one.
  drv.mmio.writeValue(0xc000_0000 + 16 * 1 + 8, 4, 0x51);
  assert.equal(lost, 0);
  // The guest masks vector 2: the holder is told first, then the event closes.
  drv.mmio.writeValue(0xc000_0000 + 16 * 2 + 12, 4, 1);
  assert.equal(lost, 1);
  assert.equal(events.made.at(-1)!.closed, true);
  // While masked there is none to have.
  assert.equal(ctx.interruptFd!(1, () => lost++), undefined);
  drv.mmio.writeValue(0xc000_0000 + 16 * 2 + 12, 4, 0);
  assert.notEqual(ctx.interruptFd!(1, () => lost++), undefined);
  // The queue's vector changes: withdrawn.
  drv.setCommon(CC.queueSelect, 2, 1);
  drv.setCommon(CC.queueMsixVector, 2, 0);
  assert.equal(lost, 2);
  // MSI-X turned off: withdrawn, and none while it is off.
  drv.setCommon(CC.queueMsixVector, 2, 2);
  assert.notEqual(ctx.interruptFd!(1, () => lost++), undefined);
  drv.cfgWrite(drv.transport.msix.capOffset + 2, 2, 0);
  assert.equal(lost, 3);
  assert.equal(ctx.interruptFd!(1, () => lost++), undefined);
  assert.ok(events.made.every((e) => e.closed));
});

test('interruptFd: none without kernel interrupt events (emu, the in-process channels)', () => {
  const dev = device();
  const drv = new TestDriver(dev, { events: true });
  drv.init();
  assert.equal(dev.ctx!.interruptFd!(0, () => undefined), undefined);
});
