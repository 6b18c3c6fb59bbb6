import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as abi from './kvm-abi.js';
import { uapiValues } from './uapi-probe.test-util.js';
import * as s from './kvm-structs.js';

// Expected values: what <linux/kvm.h>/<asm/kvm.h> give with gcc on x86-64 (Linux 6.x UAPI), printed
// on the development machine; the last test compiles the same probe against this host's headers.

test('snapshot ioctl request codes and capabilities match the UAPI headers', () => {
  const expected: Record<string, number> = {
    KVM_GET_LAPIC: 0x8400ae8e,
    KVM_SET_LAPIC: 0x4400ae8f,
    KVM_GET_IRQCHIP: 0xc208ae62,
    KVM_SET_IRQCHIP: 0x8208ae63,
    KVM_GET_PIT2: 0x8070ae9f,
    KVM_SET_PIT2: 0x4070aea0,
    KVM_GET_CLOCK: 0x8030ae7c,
    KVM_SET_CLOCK: 0x4030ae7b,
    KVM_GET_XSAVE: 0x9000aea4,
    KVM_SET_XSAVE: 0x5000aea5,
    KVM_GET_XSAVE2: 0x9000aecf,
    KVM_GET_XCRS: 0x8188aea6,
    KVM_SET_XCRS: 0x4188aea7,
    KVM_GET_FPU: 0x81a0ae8c,
    KVM_SET_FPU: 0x41a0ae8d,
  };
  for (const [name, value] of Object.entries(expected)) assert.equal((abi as unknown as Record<string, number>)[name], value, name);
  assert.equal(abi.KVM_CAP.XSAVE, 55);
  assert.equal(abi.KVM_CAP.XCRS, 56);
  assert.equal(abi.KVM_CAP.XSAVE2, 208);
  assert.equal(abi.KVM_VCPUEVENT_VALID_NMI_PENDING | abi.KVM_VCPUEVENT_VALID_SIPI_VECTOR | abi.KVM_VCPUEVENT_VALID_SMM, 0xb);
});

test('kvm_lapic_state: registers at their xAPIC offsets, 256-bit registers at a 16-byte stride', () => {
  const page = new Uint8Array(s.KVM_LAPIC_STATE_SIZE);
  s.setLapicReg(page, s.APIC_REG.SVR, 0x1ff);
  assert.equal(new DataView(page.buffer).getUint32(0xf0, true), 0x1ff);
  const irr = new Uint8Array(32);
  irr[4] = 0x01; // vector 32
  irr[31] = 0x80; // vector 255
  s.setLapicVector(page, s.APIC_REG.IRR, irr);
  assert.equal(new DataView(page.buffer).getUint32(0x210, true), 1, 'vector 32 is bit 0 of the second IRR register (0x210)');
  assert.equal(new DataView(page.buffer).getUint32(0x270, true), 0x8000_0000, 'vector 255 is bit 31 of the last (0x270)');
  assert.deepEqual(s.lapicVector(page, s.APIC_REG.IRR), irr);
  assert.equal(s.lapicReg(page, s.APIC_REG.TDCR), 0);
  assert.equal(s.APIC_REG.TMCCT, 0x390);
});

test('kvm_irqchip with kvm_pic_state and kvm_ioapic_state', () => {
  const pic: s.KvmPicState = { lastIrr: 1, irr: 2, imr: 0xfd, isr: 4, priorityAdd: 5, irqBase: 0x20, readRegSelect: 1, poll: 0, specialMask: 0, initState: 0, autoEoi: 1, rotateOnAutoEoi: 0, specialFullyNestedMode: 0, init4: 1, elcr: 0x0c, elcrMask: 0xf8 };
  const pb = s.encodePicState(pic);
  assert.equal(pb.length, s.KVM_PIC_STATE_SIZE);
  assert.deepEqual([pb[2], pb[5], pb[13], pb[14], pb[15]], [0xfd, 0x20, 1, 0x0c, 0xf8], 'imr @2, irq_base @5, init4 @13, elcr @14, elcr_mask @15');
  assert.deepEqual(s.decodePicState(pb), pic);
  const chip = s.encodeIrqchip(abi.KVM_IRQCHIP_PIC_SLAVE, pb);
  assert.equal(chip.length, 520);
  assert.equal(new DataView(chip.buffer).getUint32(0, true), 1);
  assert.equal(chip[s.KVM_IRQCHIP_CHIP + 5], 0x20, 'the chip union starts at 8');
  const io: s.KvmIoapicState = { baseAddress: 0xfec0_0000n, ioregsel: 0x10, id: 0x0200_0000, irr: 1 << 4, redirtbl: Array.from({ length: 24 }, (_, i) => (i === 23 ? 0xff00_0000_0001_8031n : 0x1_0000n + BigInt(i))) };
  const ib = s.encodeIoapicState(io);
  const v = new DataView(ib.buffer);
  assert.equal(ib.length, 216);
  assert.equal(v.getUint32(12, true), 0x0200_0000, 'id @12');
  assert.equal(v.getUint32(16, true), 16, 'irr @16');
  assert.equal(v.getBigUint64(24, true), 0x1_0000n, 'redirtbl[0] @24');
  assert.equal(v.getBigUint64(24 + 23 * 8, true), 0xff00_0000_0001_8031n);
  assert.deepEqual(s.decodeIoapicState(ib), io);
});

test('kvm_pit_state2: three 24-byte channels, count_load_time @16, flags @72', () => {
  const ch = (i: number): s.KvmPitChannel => ({ count: 0x10000 - i, latchedCount: 0x1234, countLatched: 3, statusLatched: 1, status: 0x36, readState: 3, writeState: 4, writeLatch: 0x9c, rwMode: 3, mode: 2 + i, bcd: 0, gate: i === 2 ? 0 : 1, countLoadTime: -5n - BigInt(i) });
  const st: s.KvmPitState2 = { channels: [ch(0), ch(1), ch(2)], flags: abi.KVM_PIT_FLAGS_HPET_LEGACY };
  const b = s.encodePitState2(st);
  const v = new DataView(b.buffer);
  assert.equal(b.length, 112);
  assert.equal(v.getUint32(24, true), 0xffff, 'channel 1 count @24');
  assert.equal(b[24 + 13], 3, 'channel 1 mode @13');
  assert.equal(b[48 + 15], 0, 'channel 2 gate @15');
  assert.equal(v.getBigInt64(16, true), -5n);
  assert.equal(v.getUint32(72, true), 1);
  assert.deepEqual(s.decodePitState2(b), st);
});

test('kvm_clock_data, kvm_xcrs, kvm_vcpu_events round trips', () => {
  const c = s.encodeClockData(123_456_789_000n, abi.KVM_CLOCK_TSC_STABLE);
  assert.equal(c.length, 48);
  assert.deepEqual(s.decodeClockData(c), { clockNs: 123_456_789_000n, flags: 2 });
  const x = s.encodeXcrs([[0, 7n]]);
  assert.equal(x.length, 392);
  assert.equal(new DataView(x.buffer).getBigUint64(16, true), 7n, 'xcrs[0].value @16');
  assert.deepEqual(s.decodeXcrs(x), [[0, 7n]]);
  const e: s.KvmVcpuEvents = {
    exception: { injected: 1, nr: 14, hasErrorCode: 1, pending: 0, errorCode: 0x6 },
    interrupt: { injected: 1, nr: 0x31, soft: 0, shadow: 2 },
    nmi: { injected: 0, pending: 1, masked: 1 },
    sipiVector: 0x9a,
    flags: abi.KVM_VCPUEVENT_VALID_NMI_PENDING | abi.KVM_VCPUEVENT_VALID_SIPI_VECTOR,
    smi: { smm: 0, pending: 0, smmInsideNmi: 0, latchedInit: 1 },
    tripleFaultPending: 0,
    exceptionHasPayload: 1,
    exceptionPayload: 0xdead_b000n,
  };
  const b = s.encodeVcpuEvents(e);
  assert.equal(b.length, 64);
  assert.equal(b[s.KVM_VCPU_EVENTS_INTERRUPT_SHADOW], 2);
  assert.equal(new DataView(b.buffer).getUint32(s.KVM_VCPU_EVENTS_FLAGS, true), 3);
  assert.equal(b[13], 1, 'nmi.pending @13');
  assert.equal(b[27], 1, 'smi.latched_init @27');
  assert.deepEqual(s.decodeVcpuEvents(b), e);
});

test('kvm_fpu and the FXSAVE image carry the same state both ways; kvm_xsave holds the image and XSTATE_BV', () => {
  const fx = new Uint8Array(512);
  const v = new DataView(fx.buffer);
  v.setUint16(0, 0x37f, true);
  v.setUint16(2, 0x3800, true);
  fx[4] = 0x80;
  v.setUint16(6, 0x1d9, true);
  v.setBigUint64(8, 0x40_1000n, true);
  v.setBigUint64(16, 0x7000n, true);
  v.setUint32(24, 0x1f80, true);
  v.setUint32(28, 0xffff, true);
  for (let i = 0; i < 10; i++) fx[32 + 7 * 16 + i] = i + 1; // ST7
  for (let i = 0; i < 256; i++) fx[160 + i] = i;
  const fpu = s.kvmFpuFromFxsave(fx);
  assert.equal(fpu.length, 416);
  assert.equal(new DataView(fpu.buffer).getUint32(408, true), 0x1f80, 'mxcsr @408');
  assert.equal(fpu[152 + 255], 255, 'xmm15 ends @407');
  assert.equal(fpu[7 * 16], 1, 'fpr[7] @112');
  assert.deepEqual(s.fxsaveFromKvmFpu(fpu), fx);
  const xs = s.xsaveFromFxsave(fx);
  assert.equal(xs.length, 4096);
  assert.deepEqual(xs.subarray(0, 512), fx);
  assert.equal(new DataView(xs.buffer).getBigUint64(s.XSAVE_HEADER_XSTATE_BV, true), 3n);
});

test('snapshot structs against this host\'s UAPI headers (a compiled sizeof/offsetof probe; skipped without gcc or the headers)', (t) => {
  const probes: [string, number][] = [
    ['KVM_GET_LAPIC', abi.KVM_GET_LAPIC], ['KVM_SET_LAPIC', abi.KVM_SET_LAPIC], ['KVM_GET_IRQCHIP', abi.KVM_GET_IRQCHIP], ['KVM_SET_IRQCHIP', abi.KVM_SET_IRQCHIP],
    ['KVM_GET_PIT2', abi.KVM_GET_PIT2], ['KVM_SET_PIT2', abi.KVM_SET_PIT2], ['KVM_GET_CLOCK', abi.KVM_GET_CLOCK], ['KVM_SET_CLOCK', abi.KVM_SET_CLOCK],
    ['KVM_GET_XSAVE', abi.KVM_GET_XSAVE], ['KVM_GET_XSAVE2', abi.KVM_GET_XSAVE2], ['KVM_SET_XSAVE', abi.KVM_SET_XSAVE], ['KVM_GET_XCRS', abi.KVM_GET_XCRS], ['KVM_SET_XCRS', abi.KVM_SET_XCRS],
    ['KVM_GET_FPU', abi.KVM_GET_FPU], ['KVM_SET_FPU', abi.KVM_SET_FPU],
    ['sizeof(struct kvm_lapic_state)', s.KVM_LAPIC_STATE_SIZE], ['sizeof(struct kvm_irqchip)', s.KVM_IRQCHIP_SIZE], ['offsetof(struct kvm_irqchip, chip)', s.KVM_IRQCHIP_CHIP],
    ['sizeof(struct kvm_pic_state)', s.KVM_PIC_STATE_SIZE], ['offsetof(struct kvm_pic_state, elcr_mask)', 15],
    ['sizeof(struct kvm_ioapic_state)', s.KVM_IOAPIC_STATE_SIZE], ['offsetof(struct kvm_ioapic_state, irr)', 16], ['offsetof(struct kvm_ioapic_state, redirtbl)', 24],
    ['sizeof(struct kvm_pit_state2)', s.KVM_PIT_STATE2_SIZE], ['sizeof(struct kvm_pit_channel_state)', s.KVM_PIT_CHANNEL_SIZE],
    ['offsetof(struct kvm_pit_channel_state, gate)', 15], ['offsetof(struct kvm_pit_channel_state, count_load_time)', 16], ['offsetof(struct kvm_pit_state2, flags)', s.KVM_PIT_STATE2_FLAGS],
    ['sizeof(struct kvm_clock_data)', s.KVM_CLOCK_DATA_SIZE], ['sizeof(struct kvm_xsave)', s.KVM_XSAVE_SIZE], ['sizeof(struct kvm_xcrs)', s.KVM_XCRS_SIZE],
    ['sizeof(struct kvm_fpu)', s.KVM_FPU_SIZE], ['offsetof(struct kvm_fpu, xmm)', 152], ['offsetof(struct kvm_fpu, mxcsr)', 408],
    ['sizeof(struct kvm_vcpu_events)', s.KVM_VCPU_EVENTS_SIZE], ['offsetof(struct kvm_vcpu_events, sipi_vector)', 16], ['offsetof(struct kvm_vcpu_events, smi)', 24],
    ['offsetof(struct kvm_vcpu_events, exception_has_payload)', 55], ['offsetof(struct kvm_vcpu_events, exception_payload)', 56],
    ['KVM_CAP_XSAVE', abi.KVM_CAP.XSAVE], ['KVM_CAP_XCRS', abi.KVM_CAP.XCRS], ['KVM_CAP_XSAVE2', abi.KVM_CAP.XSAVE2],
  ];
  const out = uapiValues(t, probes.map(([e]) => e));
  if (out !== null) probes.forEach(([e, want], i) => assert.equal(out[i], want, e));
});
