/**
 * KVM ABI numbers for x86-64 (facts from the kernel's UAPI <linux/kvm.h> and
 * <asm/kvm.h>): ioctl request codes, capability ids, exit reasons and flags.
 * Request codes are built with the same _IOC encoding the headers use, and the
 * unit test checks them against the values the headers produce on this machine.
 */

const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
const KVMIO = 0xae;

function ioc(dir: number, nr: number, size: number): number {
  // dir:2 | size:14 | type:8 | nr:8, as an unsigned 32-bit value.
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}
const io = (nr: number): number => ioc(IOC_NONE, nr, 0);
const ior = (nr: number, size: number): number => ioc(IOC_READ, nr, size);
const iow = (nr: number, size: number): number => ioc(IOC_WRITE, nr, size);
const iowr = (nr: number, size: number): number => ioc(IOC_READ | IOC_WRITE, nr, size);

export const KVM_API_VERSION = 12;

// System ioctls (on the /dev/kvm fd).
export const KVM_GET_API_VERSION = io(0x00);
export const KVM_CREATE_VM = io(0x01);
export const KVM_GET_MSR_INDEX_LIST = iowr(0x02, 4);
export const KVM_CHECK_EXTENSION = io(0x03);
export const KVM_GET_VCPU_MMAP_SIZE = io(0x04);
export const KVM_GET_SUPPORTED_CPUID = iowr(0x05, 8);

// VM ioctls.
export const KVM_CREATE_VCPU = io(0x41);
export const KVM_GET_DIRTY_LOG = iow(0x42, 16);
export const KVM_SET_USER_MEMORY_REGION = iow(0x46, 32);
export const KVM_SET_TSS_ADDR = io(0x47);
export const KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
export const KVM_CREATE_IRQCHIP = io(0x60);
export const KVM_IRQ_LINE = iow(0x61, 8);
export const KVM_SET_GSI_ROUTING = iow(0x6a, 8);
export const KVM_REGISTER_COALESCED_MMIO = iow(0x67, 16);
export const KVM_UNREGISTER_COALESCED_MMIO = iow(0x68, 16);
export const KVM_IRQFD = iow(0x76, 32);
export const KVM_IOEVENTFD = iow(0x79, 64);
export const KVM_SIGNAL_MSI = iow(0xa5, 32);
export const KVM_CREATE_PIT2 = iow(0x77, 64);
export const KVM_ENABLE_CAP = iow(0xa3, 104);
export const KVM_SET_PMU_EVENT_FILTER = iow(0xb2, 32);
/** The in-kernel chips and clock (snapshots): kvm_irqchip is 520 bytes, kvm_pit_state2 112, kvm_clock_data 48. */
export const KVM_GET_IRQCHIP = iowr(0x62, 520);
/** _IOR, not _IOW: the header declares it so, and the number is what the kernel matches. */
export const KVM_SET_IRQCHIP = ior(0x63, 520);
export const KVM_GET_PIT2 = ior(0x9f, 112);
export const KVM_SET_PIT2 = iow(0xa0, 112);
export const KVM_SET_CLOCK = iow(0x7b, 48);
export const KVM_GET_CLOCK = ior(0x7c, 48);

// vCPU ioctls.
export const KVM_RUN = io(0x80);
export const KVM_GET_REGS = ior(0x81, 144);
export const KVM_SET_REGS = iow(0x82, 144);
export const KVM_GET_SREGS = ior(0x83, 312);
export const KVM_SET_SREGS = iow(0x84, 312);
export const KVM_GET_MSRS = iowr(0x88, 8);
export const KVM_SET_MSRS = iow(0x89, 8);
export const KVM_SET_CPUID2 = iow(0x90, 8);
export const KVM_GET_MP_STATE = ior(0x98, 4);
export const KVM_SET_MP_STATE = iow(0x99, 4);
export const KVM_GET_VCPU_EVENTS = ior(0x9f, 64);
export const KVM_SET_VCPU_EVENTS = iow(0xa0, 64);
export const KVM_GET_DEBUGREGS = ior(0xa1, 128);
export const KVM_SET_DEBUGREGS = iow(0xa2, 128);
/** vCPU state for snapshots: kvm_lapic_state (1 KiB register page), kvm_xsave (4 KiB), kvm_xcrs (392); kvm_fpu below. */
/** struct kvm_signal_mask {u32 len; u8 sigset[len]}: the signals blocked while the vCPU is in KVM_RUN (NULL: the thread's own). */
export const KVM_SET_SIGNAL_MASK = iow(0x8b, 4);
export const KVM_GET_LAPIC = ior(0x8e, 1024);
export const KVM_SET_LAPIC = iow(0x8f, 1024);
export const KVM_GET_XSAVE = ior(0xa4, 4096);
export const KVM_SET_XSAVE = iow(0xa5, 4096);
/** The same area at the size KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) gives (KVM_SET_XSAVE takes that size too). */
export const KVM_GET_XSAVE2 = ior(0xcf, 4096);
export const KVM_GET_XCRS = ior(0xa6, 392);
export const KVM_SET_XCRS = iow(0xa7, 392);
/** struct kvm_guest_debug: {u32 control; u32 pad; struct kvm_guest_debug_arch {u64 debugreg[8]}} = 72 bytes. */
export const KVM_SET_GUEST_DEBUG = iow(0x9b, 72);
/** struct kvm_translation (24 bytes): a linear address through the vCPU's current page tables. */
export const KVM_TRANSLATE = iowr(0x85, 24);
/** struct kvm_fpu (416 bytes): x87 and SSE state in FXSAVE terms. */
export const KVM_GET_FPU = ior(0x8c, 416);
export const KVM_SET_FPU = iow(0x8d, 416);

/** kvm_guest_debug.control bits (x86). */
export const KVM_GUESTDBG = {
  ENABLE: 0x1,
  SINGLESTEP: 0x2,
  USE_SW_BP: 0x1_0000,
  USE_HW_BP: 0x2_0000,
  INJECT_DB: 0x4_0000,
  INJECT_BP: 0x8_0000,
  /** No interrupt is injected while single-stepping (so a step does not land in a handler). */
  BLOCKIRQ: 0x10_0000,
} as const;

/** Capability ids for KVM_CHECK_EXTENSION / KVM_ENABLE_CAP. */
export const KVM_CAP = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  SET_GUEST_DEBUG: 23,
  MP_STATE: 14,
  COALESCED_MMIO: 15,
  IRQ_INJECT_STATUS: 26,
  IRQ_ROUTING: 25,
  IRQFD: 32,
  PIT2: 33,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  ADJUST_CLOCK: 39,
  XSAVE: 55,
  XCRS: 56,
  VCPU_EVENTS: 41,
  DEBUGREGS: 50,
  MAX_VCPUS: 66,
  TSC_DEADLINE_TIMER: 72,
  SYNC_REGS: 74,
  SIGNAL_MSI: 77,
  SPLIT_IRQCHIP: 121,
  IMMEDIATE_EXIT: 136,
  X86_DISABLE_EXITS: 143,
  GET_MSR_FEATURES: 153,
  PMU_EVENT_FILTER: 173,
  BINARY_STATS_FD: 203,
  /** KVM_CHECK_EXTENSION returns the KVM_GUESTDBG_* bits the host supports. */
  SET_GUEST_DEBUG2: 195,
  COALESCED_PIO: 162,
  PMU_CAPABILITY: 212,
  /** KVM_CHECK_EXTENSION returns the size KVM_GET_XSAVE2 needs (more than 4096 with AMX). */
  XSAVE2: 208,
} as const;

/** KVM_IOEVENTFD flags, KVM_IRQFD flags, routing entry types and irqchips (<linux/kvm.h>). */
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1;
export const KVM_IOEVENTFD_FLAG_PIO = 2;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 4;
export const KVM_IRQFD_FLAG_DEASSIGN = 1;
export const KVM_IRQ_ROUTING_IRQCHIP = 1;
export const KVM_IRQ_ROUTING_MSI = 2;
export const KVM_IRQCHIP_PIC_MASTER = 0;
export const KVM_IRQCHIP_PIC_SLAVE = 1;
export const KVM_IRQCHIP_IOAPIC = 2;
/** The coalesced-MMIO ring is this many pages into a vCPU's mapping (x86: after kvm_run and the PIO page). */
export const KVM_COALESCED_MMIO_PAGE_OFFSET = 2;
export type KvmCapName = keyof typeof KVM_CAP;

/** kvm_run.exit_reason values. */
export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
  IOAPIC_EOI: 26,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  X86_BUS_LOCK: 33,
  NOTIFY: 37,
} as const;

/** Names for exit counters and messages, indexed by exit reason. */
export const KVM_EXIT_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(KVM_EXIT).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, '-')]),
);

export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

/** KVM_EXIT_INTERNAL_ERROR suberrors. */
export const KVM_INTERNAL_ERROR = {
  EMULATION: 1,
  SIMUL_EX: 2,
  DELIVERY_EV: 3,
  UNEXPECTED_EXIT_REASON: 4,
} as const;

/** KVM_EXIT_SYSTEM_EVENT types. */
export const KVM_SYSTEM_EVENT = {
  SHUTDOWN: 1,
  RESET: 2,
  CRASH: 3,
  WAKEUP: 4,
  SUSPEND: 5,
  SEV_TERM: 6,
} as const;

export const KVM_MP_STATE = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;

export const KVM_PIT_SPEAKER_DUMMY = 1;
export const KVM_PIT_FLAGS_HPET_LEGACY = 1;
/** Port 0x61 bit 1 (speaker data) as KVM keeps it with the PIT (Linux 5.x and later). */
export const KVM_PIT_FLAGS_SPEAKER_DATA_ON = 2;

/** kvm_vcpu_events.flags: which optional parts KVM_SET_VCPU_EVENTS takes from the struct. */
export const KVM_VCPUEVENT_VALID_NMI_PENDING = 0x1;
export const KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x2;
export const KVM_VCPUEVENT_VALID_SMM = 0x8;

/** kvm_clock_data.flags. */
export const KVM_CLOCK_TSC_STABLE = 0x2;

/** KVM_CAP_PMU_CAPABILITY argument bits. */
export const KVM_PMU_CAP_DISABLE = 1 << 0;

/** KVM_SET_PMU_EVENT_FILTER. */
export const KVM_PMU_EVENT_ALLOW = 0;
export const KVM_PMU_EVENT_DENY = 1;
export const KVM_PMU_EVENT_FLAG_MASKED_EVENTS = 1 << 0;
/** The kernel's limit on filter entries (KVM_PMU_EVENT_FILTER_MAX_EVENTS). */
export const KVM_PMU_EVENT_FILTER_MAX_EVENTS = 300;

/** kvm_userspace_memory_region.flags. */
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;

/** KVM_GET_SUPPORTED_CPUID entry flags. */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;

/** Where TSS and identity map go by convention: just below the 4 GiB BIOS area, inside the PCI hole. */
export const KVM_TSS_ADDR = 0xfffb_d000;
export const KVM_IDENTITY_MAP_ADDR = 0xfffb_c000;
