import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as abi from './kvm-abi.js';
import * as s from './kvm-structs.js';
import { uapiValues } from './uapi-probe.test-util.js';

// Expected values: what <linux/kvm.h>/<asm/kvm.h> produce with gcc on x86-64 (sizeof/offsetof/_IOC),
// printed on the development machine (Linux 6.18 UAPI headers, Debian 12).

test('ioctl request codes match the UAPI headers', () => {
  const expected: Record<string, number> = {
    KVM_GET_API_VERSION: 0xae00,
    KVM_CREATE_VM: 0xae01,
    KVM_GET_MSR_INDEX_LIST: 0xc004ae02,
    KVM_CHECK_EXTENSION: 0xae03,
    KVM_GET_VCPU_MMAP_SIZE: 0xae04,
    KVM_GET_SUPPORTED_CPUID: 0xc008ae05,
    KVM_CREATE_VCPU: 0xae41,
    KVM_GET_DIRTY_LOG: 0x4010ae42,
    KVM_SET_USER_MEMORY_REGION: 0x4020ae46,
    KVM_SET_TSS_ADDR: 0xae47,
    KVM_SET_IDENTITY_MAP_ADDR: 0x4008ae48,
    KVM_CREATE_IRQCHIP: 0xae60,
    KVM_IRQ_LINE: 0x4008ae61,
    KVM_SET_GSI_ROUTING: 0x4008ae6a,
    KVM_REGISTER_COALESCED_MMIO: 0x4010ae67,
    KVM_UNREGISTER_COALESCED_MMIO: 0x4010ae68,
    KVM_IRQFD: 0x4020ae76,
    KVM_IOEVENTFD: 0x4040ae79,
    KVM_SIGNAL_MSI: 0x4020aea5,
    KVM_CREATE_PIT2: 0x4040ae77,
    KVM_ENABLE_CAP: 0x4068aea3,
    KVM_SET_PMU_EVENT_FILTER: 0x4020aeb2,
    KVM_RUN: 0xae80,
    KVM_GET_REGS: 0x8090ae81,
    KVM_SET_REGS: 0x4090ae82,
    KVM_GET_SREGS: 0x8138ae83,
    KVM_SET_SREGS: 0x4138ae84,
    KVM_GET_MSRS: 0xc008ae88,
    KVM_SET_MSRS: 0x4008ae89,
    KVM_SET_CPUID2: 0x4008ae90,
    KVM_GET_MP_STATE: 0x8004ae98,
    KVM_SET_MP_STATE: 0x4004ae99,
    KVM_GET_VCPU_EVENTS: 0x8040ae9f,
    KVM_SET_VCPU_EVENTS: 0x4040aea0,
    KVM_GET_DEBUGREGS: 0x8080aea1,
    KVM_SET_DEBUGREGS: 0x4080aea2,
    KVM_SET_GUEST_DEBUG: 0x4048ae9b,
    KVM_TRANSLATE: 0xc018ae85,
    KVM_GET_FPU: 0x81a0ae8c,
    KVM_SET_FPU: 0x41a0ae8d,
  };
  for (const [name, value] of Object.entries(expected)) {
    assert.equal((abi as unknown as Record<string, number>)[name], value, name);
  }
});

test('kvm_regs: 144 bytes, GPRs in kernel order, rip at 128, rflags at 136', () => {
  assert.equal(s.KVM_REGS_SIZE, 144);
  const b = s.encodeRegs({ rax: 1n, rbx: 2n, rcx: 3n, rsp: 0x8000n, r15: 0xffff_ffff_ffff_ffffn, rip: 0x100000n, rflags: 2n });
  const v = new DataView(b.buffer);
  assert.equal(v.getBigUint64(0, true), 1n);
  assert.equal(v.getBigUint64(8, true), 2n);
  assert.equal(v.getBigUint64(16, true), 3n);
  assert.equal(v.getBigUint64(48, true), 0x8000n);
  assert.equal(v.getBigUint64(120, true), 0xffff_ffff_ffff_ffffn);
  assert.equal(v.getBigUint64(128, true), 0x100000n);
  assert.equal(v.getBigUint64(136, true), 2n);
  // Encoding number -> kvm_regs offset: rcx (1) is the third field, rsp (4) the seventh, rsi (6) the fifth.
  assert.equal(s.KVM_REGS_GPR_OFFSET[1], 16);
  assert.equal(s.KVM_REGS_GPR_OFFSET[4], 48);
  assert.equal(s.KVM_REGS_GPR_OFFSET[6], 32);
  assert.equal(s.KVM_REGS_GPR_OFFSET[3], 8);
  assert.deepEqual(s.decodeRegs(b).rsp, 0x8000n);
});

test('kvm_segment and kvm_sregs layout', () => {
  assert.equal(s.KVM_SREGS_SIZE, 312);
  assert.equal(s.KVM_SEGMENT_SIZE, 24);
  // es cs ss ds fs gs ldt tr in catalog order.
  assert.deepEqual(s.KVM_SREGS_SEGMENT_OFFSET, [48, 0, 120, 24, 72, 96, 168, 144]);
  assert.equal(s.KVM_SREGS_GDT, 192);
  assert.equal(s.KVM_SREGS_IDT, 208);
  assert.deepEqual(s.KVM_SREGS_CR_OFFSET, { 0: 224, 2: 232, 3: 240, 4: 248, 8: 256 });
  assert.equal(s.KVM_SREGS_EFER, 264);
  assert.equal(s.KVM_SREGS_APIC_BASE, 272);
  assert.equal(s.KVM_SREGS_INTERRUPT_BITMAP, 280);
  const b = new Uint8Array(312);
  const seg: s.KvmSegment = { base: 0x1234n, limit: 0xffff_ffff, selector: 0x10, type: 0xb, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };
  s.writeSegment(b, 0, seg);
  assert.equal(new DataView(b.buffer).getUint32(8, true), 0xffff_ffff);
  assert.equal(new DataView(b.buffer).getUint16(12, true), 0x10);
  assert.equal(b[14], 0xb);
  assert.equal(b[20], 1);
  assert.deepEqual(s.readSegment(b, 0), seg);
  s.writeDtable(b, s.KVM_SREGS_GDT, { base: 0x9000n, limit: 0x27 });
  assert.deepEqual(s.readDtable(b, 192), { base: 0x9000n, limit: 0x27 });
});

test('segment attributes convert to and from the VMX access-rights layout', () => {
  const flat32Code: s.KvmSegment = { base: 0n, limit: 0xffff_ffff, selector: 0x10, type: 0xb, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };
  // Intel SDM Vol. 3 24.4.1: a 32-bit flat code segment has access rights 0xc09b (type 0xb, S, P, D/B, G).
  assert.equal(s.segmentAttrsFromKvm(flat32Code), 0xc09b);
  const long64: s.KvmSegment = { ...flat32Code, db: 0, l: 1 };
  assert.equal(s.segmentAttrsFromKvm(long64), 0xa09b);
  const back = { ...flat32Code, type: 0, s: 0, present: 0, db: 0, g: 0 };
  s.applySegmentAttrs(back, 0xc093);
  assert.equal(back.type, 3);
  assert.equal(back.present, 1);
  assert.equal(back.db, 1);
  assert.equal(back.g, 1);
  s.applySegmentAttrs(back, 1 << 16);
  assert.equal(back.unusable, 1);
  assert.equal(back.present, 0);
});

test('kvm_run offsets and slow-path exit decoding', () => {
  assert.equal(s.KVM_RUN.IMMEDIATE_EXIT, 1);
  assert.equal(s.KVM_RUN.EXIT_REASON, 8);
  assert.equal(s.KVM_RUN.IO_PORT, 34);
  assert.equal(s.KVM_RUN.IO_COUNT, 36);
  assert.equal(s.KVM_RUN.IO_DATA_OFFSET, 40);
  assert.equal(s.KVM_RUN.MMIO_LEN, 48);
  assert.equal(s.KVM_RUN.MMIO_IS_WRITE, 52);
  assert.equal(s.KVM_RUN.SIZE, 2352);
  const run = new Uint8Array(4096);
  const v = new DataView(run.buffer);
  v.setUint32(32, abi.KVM_INTERNAL_ERROR.EMULATION, true);
  v.setUint32(36, 2, true);
  v.setBigUint64(40, 0xdeadn, true);
  v.setBigUint64(48, 0xbeefn, true);
  assert.deepEqual(s.decodeInternalError(run), { suberror: 1, data: [0xdeadn, 0xbeefn] });
  v.setUint32(36, 1000, true); // a bogus ndata is clamped to the 16 words the union holds
  assert.equal(s.decodeInternalError(run).data.length, 16);
  v.setBigUint64(32, 0x80000021n, true);
  v.setUint32(40, 1, true);
  assert.deepEqual(s.decodeFailEntry(run), { hardwareEntryFailureReason: 0x80000021n, cpu: 1 });
  v.setUint32(32, abi.KVM_SYSTEM_EVENT.RESET, true);
  v.setUint32(36, 0, true);
  assert.deepEqual(s.decodeSystemEvent(run), { type: 2, data: [] });
});

test('kvm_cpuid2 round trip: 8-byte header, 40-byte entries', () => {
  const entries: s.CpuidEntry[] = [
    { function: 0, index: 0, flags: 0, eax: 0x1c, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
    { function: 7, index: 1, flags: abi.KVM_CPUID_FLAG_SIGNIFCANT_INDEX, eax: 1, ebx: 2, ecx: 3, edx: 0xffff_ffff },
  ];
  const b = s.encodeCpuid2(entries);
  assert.equal(b.length, 8 + 2 * 40);
  const v = new DataView(b.buffer);
  assert.equal(v.getUint32(0, true), 2);
  assert.equal(v.getUint32(48, true), 7); // second entry's function
  assert.equal(v.getUint32(52, true), 1); // index
  assert.equal(v.getUint32(56, true), 1); // flags
  assert.equal(v.getUint32(72, true), 0xffff_ffff); // edx
  assert.deepEqual(s.decodeCpuid2(b), entries);
  const bad = s.allocCpuid2(1);
  v.setUint32(0, 5, true);
  new DataView(bad.buffer).setUint32(0, 5, true);
  assert.throws(() => s.decodeCpuid2(bad), RangeError);
});

test('kvm_msrs, memory region, irq level, pit config, enable cap, mp state', () => {
  const m = s.encodeMsrs([[0xc000_0080, 0x500n], [0x1b, 0xfee0_0900n]]);
  assert.equal(m.length, 8 + 32);
  assert.equal(new DataView(m.buffer).getUint32(8, true), 0xc000_0080);
  assert.equal(new DataView(m.buffer).getBigUint64(16, true), 0x500n);
  assert.deepEqual(s.decodeMsrs(m), [[0xc000_0080, 0x500n], [0x1b, 0xfee0_0900n]]);

  const r = s.encodeUserspaceMemoryRegion(3, 1, 0x1_0000_0000, 0x20_0000, 0x7f00_1234_5000n);
  const rv = new DataView(r.buffer);
  assert.equal(r.length, 32);
  assert.equal(rv.getUint32(0, true), 3);
  assert.equal(rv.getUint32(4, true), 1);
  assert.equal(rv.getBigUint64(8, true), 0x1_0000_0000n);
  assert.equal(rv.getBigUint64(16, true), 0x20_0000n);
  assert.equal(rv.getBigUint64(24, true), 0x7f00_1234_5000n);

  const dl = new DataView(s.encodeDirtyLog(2, 0x7f12_3456_7000n).buffer);
  assert.equal(dl.byteLength, 16);
  assert.equal(dl.getUint32(0, true), 2);
  assert.equal(dl.getBigUint64(8, true), 0x7f12_3456_7000n);
  assert.deepEqual([...s.encodeIrqLevel(4, 1)], [4, 0, 0, 0, 1, 0, 0, 0]);
  const pit = s.encodePitConfig(abi.KVM_PIT_SPEAKER_DUMMY);
  assert.equal(pit.length, 64);
  assert.equal(pit[0], 1);
  const cap = s.encodeEnableCap(abi.KVM_CAP.PMU_CAPABILITY, [BigInt(abi.KVM_PMU_CAP_DISABLE)]);
  assert.equal(cap.length, 104);
  assert.equal(new DataView(cap.buffer).getUint32(0, true), 212);
  assert.equal(new DataView(cap.buffer).getBigUint64(8, true), 1n);
  assert.throws(() => s.encodeEnableCap(1, [1n, 2n, 3n, 4n, 5n]), RangeError);
  assert.equal(s.decodeMpState(s.encodeMpState(abi.KVM_MP_STATE.HALTED)), 3);
});

test('kvm_pmu_event_filter: 32-byte header then u64 events', () => {
  const f = s.encodePmuEventFilter({
    action: abi.KVM_PMU_EVENT_DENY,
    fixedCounterBitmap: 0b101,
    flags: abi.KVM_PMU_EVENT_FLAG_MASKED_EVENTS,
    events: [0xc0n, 0x013cn, 0xff00_0000_0000_00c4n],
  });
  const v = new DataView(f.buffer);
  assert.equal(f.length, 32 + 3 * 8);
  assert.equal(v.getUint32(0, true), 1); // action
  assert.equal(v.getUint32(4, true), 3); // nevents
  assert.equal(v.getUint32(8, true), 5); // fixed_counter_bitmap
  assert.equal(v.getUint32(12, true), 1); // flags
  for (let o = 16; o < 32; o++) assert.equal(f[o], 0, `pad byte ${o}`);
  assert.equal(v.getBigUint64(32, true), 0xc0n);
  assert.equal(v.getBigUint64(40, true), 0x013cn);
  assert.equal(v.getBigUint64(48, true), 0xff00_0000_0000_00c4n);
  assert.throws(() => s.encodePmuEventFilter({ action: 0, fixedCounterBitmap: 0, flags: 0, events: new Array<bigint>(301).fill(0n) }), RangeError);
});

test('kvm_msi: 32 bytes, address split in two dwords, then data', () => {
  assert.equal(s.KVM_MSI_SIZE, 32);
  const v = new DataView(s.encodeMsi(0x1_fee0_1000, 0x4031).buffer);
  assert.equal(v.getUint32(0, true), 0xfee0_1000);
  assert.equal(v.getUint32(4, true), 1);
  assert.equal(v.getUint32(8, true), 0x4031);
  assert.equal(v.getUint32(12, true), 0, 'flags: no device id');
});

test('kvm_guest_debug and the KVM_EXIT_DEBUG payload: layout, control bits, capabilities', () => {
  const b = s.encodeGuestDebug(abi.KVM_GUESTDBG.ENABLE | abi.KVM_GUESTDBG.USE_SW_BP | abi.KVM_GUESTDBG.SINGLESTEP, [0x1000n, 0n, 0n, 0xffff_ffff_8100_0000n, 0n, 0n, 0n, 0x403n]);
  assert.equal(b.length, 72);
  const dv = new DataView(b.buffer);
  assert.equal(dv.getUint32(0, true), 0x10003);
  assert.equal(dv.getUint32(4, true), 0, 'pad');
  assert.equal(dv.getBigUint64(8, true), 0x1000n, 'debugreg[0] at offsetof(arch) = 8');
  assert.equal(dv.getBigUint64(8 + 3 * 8, true), 0xffff_ffff_8100_0000n);
  assert.equal(dv.getBigUint64(8 + 7 * 8, true), 0x403n, 'debugreg[7] = DR7');
  const run = new Uint8Array(s.KVM_RUN.SIZE);
  const rv = new DataView(run.buffer);
  rv.setUint32(32, 1, true);
  rv.setBigUint64(40, 0xffff_ffff_8107_9e46n, true);
  rv.setBigUint64(48, 0xffff_4ff1n, true);
  rv.setBigUint64(56, 0x400n, true);
  assert.deepEqual(s.decodeDebugExit(run), { exception: 1, pc: 0xffff_ffff_8107_9e46n, dr6: 0xffff_4ff1n, dr7: 0x400n });
  assert.deepEqual({ ...abi.KVM_GUESTDBG }, { ENABLE: 1, SINGLESTEP: 2, USE_SW_BP: 0x10000, USE_HW_BP: 0x20000, INJECT_DB: 0x40000, INJECT_BP: 0x80000, BLOCKIRQ: 0x100000 });
  assert.equal(abi.KVM_CAP.SET_GUEST_DEBUG, 23);
  assert.equal(abi.KVM_CAP.SET_GUEST_DEBUG2, 195);
});

test('kvm_guest_debug against this host\'s UAPI headers (a compiled offsetof probe; skipped without gcc or the headers)', (t) => {
  const probes: [string, number][] = [
    ['KVM_SET_GUEST_DEBUG', abi.KVM_SET_GUEST_DEBUG], ['sizeof(struct kvm_guest_debug)', s.KVM_GUEST_DEBUG_SIZE],
    ['offsetof(struct kvm_guest_debug, control)', 0], ['offsetof(struct kvm_guest_debug, arch)', 8],
    ['offsetof(struct kvm_run, debug.arch.exception)', s.KVM_RUN.DEBUG_EXCEPTION], ['offsetof(struct kvm_run, debug.arch.pc)', s.KVM_RUN.DEBUG_PC],
    ['offsetof(struct kvm_run, debug.arch.dr6)', s.KVM_RUN.DEBUG_DR6], ['offsetof(struct kvm_run, debug.arch.dr7)', s.KVM_RUN.DEBUG_DR7],
    ['KVM_CAP_SET_GUEST_DEBUG', abi.KVM_CAP.SET_GUEST_DEBUG], ['KVM_CAP_SET_GUEST_DEBUG2', abi.KVM_CAP.SET_GUEST_DEBUG2],
    ['KVM_GUESTDBG_ENABLE', abi.KVM_GUESTDBG.ENABLE], ['KVM_GUESTDBG_SINGLESTEP', abi.KVM_GUESTDBG.SINGLESTEP],
    ['KVM_GUESTDBG_USE_SW_BP', abi.KVM_GUESTDBG.USE_SW_BP], ['KVM_GUESTDBG_USE_HW_BP', abi.KVM_GUESTDBG.USE_HW_BP],
    ['KVM_GUESTDBG_INJECT_DB', abi.KVM_GUESTDBG.INJECT_DB], ['KVM_GUESTDBG_INJECT_BP', abi.KVM_GUESTDBG.INJECT_BP],
  ];
  const out = uapiValues(t, probes.map(([e]) => e));
  if (out !== null) probes.forEach(([e, want], i) => assert.equal(out[i], want, e));
});

test('event-channel structs: kvm_ioeventfd, kvm_irqfd, kvm_irq_routing, the coalesced zone and ring', () => {
  // offsetof values printed from <linux/kvm.h> (Linux 6.18 UAPI): ioeventfd 64 bytes (datamatch 0, addr 8,
  // len 16, fd 20, flags 24); irqfd 32 (fd 0, gsi 4, flags 8); routing entry 48 (gsi 0, type 4, u 16);
  // zone 16 (addr 0, size 8, pio 12); ring entries of 24 at 8 (phys_addr 0, len 8, pio 12, data 16).
  const io = new DataView(s.encodeIoeventfd({ datamatch: 7, addr: 0xfe00_3000, len: 2, fd: 9, flags: 1 }).buffer);
  assert.equal(io.byteLength, 64);
  assert.deepEqual([io.getBigUint64(0, true), io.getBigUint64(8, true), io.getUint32(16, true), io.getInt32(20, true), io.getUint32(24, true)], [7n, 0xfe00_3000n, 2, 9, 1]);
  const fd = new DataView(s.encodeIrqfd(5, 24, 1).buffer);
  assert.deepEqual([fd.byteLength, fd.getUint32(0, true), fd.getUint32(4, true), fd.getUint32(8, true)], [32, 5, 24, 1]);
  const r = new DataView(s.encodeIrqRouting([{ gsi: 3, type: 'irqchip', irqchip: 2, pin: 3 }, { gsi: 24, type: 'msi', address: 0xfee0_1000, data: 0x41 }]).buffer);
  assert.equal(r.byteLength, 8 + 2 * 48);
  assert.deepEqual([r.getUint32(0, true), r.getUint32(8, true), r.getUint32(12, true), r.getUint32(24, true), r.getUint32(28, true)], [2, 3, 1, 2, 3]);
  assert.deepEqual([r.getUint32(56, true), r.getUint32(60, true), r.getUint32(72, true), r.getUint32(80, true)], [24, 2, 0xfee0_1000, 0x41]);
  const z = new DataView(s.encodeCoalescedZone(0x80, 1, true).buffer);
  assert.deepEqual([z.byteLength, z.getBigUint64(0, true), z.getUint32(8, true), z.getUint32(12, true)], [16, 0x80n, 1, 1]);
  assert.equal(s.COALESCED_RING.MAX, 170);
  assert.equal(abi.KVM_COALESCED_MMIO_PAGE_OFFSET, 2);
});

test('kvm_fpu and kvm_translation: the layouts <linux/kvm.h> gives (gcc offsetof on Linux 6.18 UAPI)', () => {
  assert.deepEqual({ ...s.KVM_FPU }, { SIZE: 416, FPR: 0, FCW: 128, FSW: 130, FTWX: 132, LAST_OPCODE: 134, LAST_IP: 136, LAST_DP: 144, XMM: 152, MXCSR: 408 });
  const t = s.encodeTranslation(0xffff_ffff_8100_0123n);
  assert.equal(t.length, 24);
  assert.equal(new DataView(t.buffer).getBigUint64(0, true), 0xffff_ffff_8100_0123n);
  new DataView(t.buffer).setBigUint64(8, 0x100_0123n, true);
  t[16] = 1;
  t[18] = 1;
  assert.deepEqual(s.decodeTranslation(t), { physical: 0x100_0123n, valid: true, writeable: false, usermode: true });
});
