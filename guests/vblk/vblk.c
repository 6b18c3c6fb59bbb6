/* vblk: drives a virtio-blk PCI device (modern interface, VIRTIO 1.x) by polling, with no OS: finds the
   function (1af4:1042) on bus 0 through ports 0xcf8/0xcfc, its virtio capabilities and BARs, negotiates
   VERSION_1 (+FLUSH), sets up one 16-entry split queue without interrupts, then reads sector 0 (prints
   its first 16 bytes), GET_ID (prints the serial), writes sector 1 with a pattern from `seed=N`, flushes
   and reads it back. `loop` then reads on until a request fails and prints its status (the vhost-user
   backend-death test); `bench=N` times N requests of 4 KiB in each of four phases (sequential and
   random reads and writes, one request in flight), printing a line as each phase starts and ends for
   the host to time (bench/io.mjs). `msix`: the queue interrupts through MSI-X vector 0 (message to the
   local APIC, vector 0x41) and the guest waits for each completion in `sti; hlt` instead of polling, so a
   request is a whole notification round trip (doorbell, device, interrupt). Without a virtio-blk device
   it says so and exits with code 0. */
#include "rt.h"
#include "trap.h"

#define MSI_VECTOR 0x41
#define LAPIC 0xfee00000u

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_BLK_MODERN 0x1042

/* common configuration registers (VIRTIO 1.2, 4.1.4.3) */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_STATUS 0x14
#define CC_QSELECT 0x16
#define CC_QSIZE 0x18
#define CC_QVECTOR 0x1a
#define CC_QENABLE 0x1c
#define CC_QNOTIFYOFF 0x1e
#define CC_QDESC 0x20
#define CC_QDRIVER 0x28
#define CC_QDEVICE 0x30

#define QSIZE 16
#define SECTOR 512

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct avail { uint16_t flags, idx, ring[QSIZE], used_event; };
struct used_elem { uint32_t id, len; };
struct used { uint16_t flags, idx; struct used_elem ring[QSIZE]; uint16_t avail_event; };

static struct desc descs[QSIZE] ALIGNED(4096);
static struct avail avail ALIGNED(4096);
static struct used used ALIGNED(4096);
static struct { uint32_t type, reserved; uint64_t sector; } req_hdr ALIGNED(16);
static uint8_t buf[4096] ALIGNED(4096);
static volatile uint8_t req_status;

static uintptr_t common, notify_addr, device_cfg;
static uint32_t notify_mult;
static uint16_t last_used;
static int use_msix;
static volatile uint32_t interrupts;

static uint32_t pci_read(uint32_t dev, uint32_t off) {
  outl(0xcf8, 0x80000000u | (dev << 11) | (off & 0xfc));
  return inl(0xcfc);
}
static void pci_write16(uint32_t dev, uint32_t off, uint16_t v) {
  outl(0xcf8, 0x80000000u | (dev << 11) | (off & 0xfc));
  outw(0xcfc + (off & 2), v);
}
static uint8_t r8(uintptr_t a) { return *(volatile uint8_t *)a; }
static uint16_t r16(uintptr_t a) { return *(volatile uint16_t *)a; }
static void w8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static void w16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
#define barrier() __asm__ volatile("" ::: "memory")

static int find_device(void) {
  for (uint32_t dev = 0; dev < 32; dev++) {
    uint32_t id = pci_read(dev, 0);
    if ((id & 0xffff) == VIRTIO_VENDOR && (id >> 16) == VIRTIO_BLK_MODERN) return (int)dev;
  }
  return -1;
}

static uintptr_t bar_base(uint32_t dev, uint32_t bar) {
  uint32_t lo = pci_read(dev, 0x10 + 4 * bar);
  if (lo & 1) return 0; /* I/O BAR: not used by the modern interface */
  if (((lo >> 1) & 3) == 2 && pci_read(dev, 0x14 + 4 * bar) != 0) return 0; /* above 4 GiB: not reachable here */
  return lo & ~0xfu;
}

static void on_msi(struct trap_frame *f) {
  (void)f;
  interrupts++;
  mmio_write32(LAPIC + 0xb0, 0); /* EOI */
}

/* MSI-X vector 0: a fixed, edge message to APIC id 0, unmasked; the function's MSI-X enabled. */
static int setup_msix(uint32_t dev, uint32_t cap) {
  uint32_t h = pci_read(dev, cap), table = pci_read(dev, cap + 4);
  uintptr_t base = bar_base(dev, table & 7);
  if (base == 0) return -5;
  uintptr_t entry = base + (table & ~7u);
  mmio_write32(entry, LAPIC);
  mmio_write32(entry + 4, 0);
  mmio_write32(entry + 8, MSI_VECTOR);
  mmio_write32(entry + 12, 0);
  pci_write16(dev, cap + 2, (uint16_t)(((h >> 16) & ~0x4000u) | 0x8000u));
  mmio_write32(LAPIC + 0xf0, mmio_read32(LAPIC + 0xf0) | 0x1ff); /* software enable, spurious vector 0xff */
  trap_init();
  trap_set_handler(MSI_VECTOR, on_msi);
  return 0;
}

static int setup(uint32_t dev) {
  pci_write16(dev, 0x04, 0x0006); /* memory space + bus master */
  uint32_t cap = pci_read(dev, 0x34) & 0xff;
  while (cap) {
    uint32_t h = pci_read(dev, cap);
    if ((h & 0xff) == 0x11 && use_msix && setup_msix(dev, cap)) return -5;
    if ((h & 0xff) == 0x09) {
      uint32_t type = (h >> 24) & 0xff, bar = pci_read(dev, cap + 4) & 0xff, off = pci_read(dev, cap + 8);
      uintptr_t base = bar_base(dev, bar);
      if (type == 1) common = base + off;
      else if (type == 2) { notify_addr = base + off; notify_mult = pci_read(dev, cap + 16); }
      else if (type == 4) device_cfg = base + off;
      if (base == 0 && type >= 1 && type <= 4) return -1;
    }
    cap = (h >> 8) & 0xff;
  }
  if (!common || !notify_addr || !device_cfg) return -1;
  w8(common + CC_STATUS, 0);
  while (r8(common + CC_STATUS) != 0) pause();
  w8(common + CC_STATUS, 1);     /* ACKNOWLEDGE */
  w8(common + CC_STATUS, 1 | 2); /* DRIVER */
  mmio_write32(common + CC_DFSELECT, 1);
  if (!(mmio_read32(common + CC_DF) & 1)) return -2; /* no VERSION_1 */
  mmio_write32(common + CC_DFSELECT, 0);
  uint32_t lowf = mmio_read32(common + CC_DF);
  mmio_write32(common + CC_GFSELECT, 0);
  mmio_write32(common + CC_GF, lowf & (1u << 9)); /* VIRTIO_BLK_F_FLUSH if offered */
  mmio_write32(common + CC_GFSELECT, 1);
  mmio_write32(common + CC_GF, 1);
  w8(common + CC_STATUS, 1 | 2 | 8); /* FEATURES_OK */
  if (!(r8(common + CC_STATUS) & 8)) return -3;
  w16(common + CC_QSELECT, 0);
  uint16_t max = r16(common + CC_QSIZE);
  if (max < QSIZE) return -4;
  w16(common + CC_QSIZE, QSIZE);
  w16(common + CC_QVECTOR, use_msix ? 0 : 0xffff);
  if (use_msix && r16(common + CC_QVECTOR) != 0) return -6; /* the device refused the vector */
  mmio_write32(common + CC_QDESC, (uint32_t)(uintptr_t)descs);
  mmio_write32(common + CC_QDESC + 4, 0);
  mmio_write32(common + CC_QDRIVER, (uint32_t)(uintptr_t)&avail);
  mmio_write32(common + CC_QDRIVER + 4, 0);
  mmio_write32(common + CC_QDEVICE, (uint32_t)(uintptr_t)&used);
  mmio_write32(common + CC_QDEVICE + 4, 0);
  notify_addr += (uintptr_t)r16(common + CC_QNOTIFYOFF) * notify_mult;
  avail.flags = use_msix ? 0 : 1; /* VIRTQ_AVAIL_F_NO_INTERRUPT when we poll */
  w16(common + CC_QENABLE, 1);
  w8(common + CC_STATUS, 1 | 2 | 8 | 4); /* DRIVER_OK */
  return 0;
}

/* One request: header, optional data (device-writable for reads), status. Returns the status byte or
   0xff when the device never answered. */
static int request(uint32_t type, uint64_t sector, uint8_t *data, uint32_t len, int device_writes) {
  req_hdr.type = type;
  req_hdr.reserved = 0;
  req_hdr.sector = sector;
  req_status = 0xee;
  int n = 0;
  descs[n] = (struct desc){ (uint32_t)(uintptr_t)&req_hdr, 16, 1, 1 };
  n++;
  if (len) {
    descs[n] = (struct desc){ (uint32_t)(uintptr_t)data, len, (uint16_t)(1 | (device_writes ? 2 : 0)), (uint16_t)(n + 1) };
    n++;
  }
  descs[n] = (struct desc){ (uint32_t)(uintptr_t)&req_status, 1, 2, 0 };
  avail.ring[avail.idx % QSIZE] = 0;
  barrier();
  avail.idx++;
  barrier();
  uint32_t seen = interrupts;
  w16(notify_addr, 0);
  if (use_msix) {
    /* Each completion interrupts (no EVENT_IDX, interrupts not suppressed): wait for this one. Checked with
       interrupts off; STI's shadow keeps it from slipping in before the HLT. */
    while (interrupts == seen) __asm__ volatile("sti; hlt; cli" ::: "memory");
  }
  for (uint32_t spin = 0; *(volatile uint16_t *)&used.idx == last_used; spin++) {
    if (spin > 400000000u) return 0xff;
    pause();
  }
  last_used++;
  barrier();
  return req_status;
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  use_msix = cmdline_has_word(cl, "msix");
  int dev = find_device();
  if (dev < 0) {
    kprintf("vblk: no virtio-blk device\n");
    debug_exit(EXIT_SUCCESS_CODE);
  }
  int r = setup((uint32_t)dev);
  if (r) {
    kprintf("vblk: device setup failed (%d)\n", r);
    debug_exit(EXIT_FAILURE_CODE);
  }
  uint32_t cap_lo = mmio_read32(device_cfg), cap_hi = mmio_read32(device_cfg + 4);
  kprintf("vblk: 00:%02x.0 capacity %u sectors%s%s\n", dev, cap_lo, cap_hi ? " (+ high)" : "", use_msix ? ", MSI-X interrupts" : "");
  int st = request(0, 0, buf, SECTOR, 1);
  kprintf("vblk: read sector 0 status %d:", st);
  for (int i = 0; i < 16; i++) kprintf(" %02x", buf[i]);
  kprintf("\n");
  memset(buf, 0, 32);
  st = request(8, 0, buf, 20, 1);
  kprintf("vblk: serial status %d \"%s\"\n", st, (const char *)buf);
  uint32_t seed = cmdline_get_u32(cl, "seed", 1);
  for (int i = 0; i < SECTOR; i++) buf[i] = (uint8_t)(seed * 31 + i * 7);
  int ws = request(1, 1, buf, SECTOR, 0);
  int fs = request(4, 0, 0, 0, 0);
  memset(buf, 0, SECTOR);
  int rs = request(0, 1, buf, SECTOR, 1);
  int same = 1;
  for (int i = 0; i < SECTOR; i++) same &= buf[i] == (uint8_t)(seed * 31 + i * 7);
  kprintf("vblk: write %d flush %d read-back %d %s\n", ws, fs, rs, same ? "matches" : "DIFFERS");
  uint32_t bench = cmdline_get_u32(cl, "bench", 0);
  if (bench) {
    uint64_t sectors = ((uint64_t)cap_hi << 32) | cap_lo;
    uint32_t blocks = (uint32_t)(sectors / 8), x = 12345;
    static const char *const names[4] = { "seq-read", "rand-read", "seq-write", "rand-write" };
    int bad = 0;
    /* Warm-up, untimed, as long as a phase: the first requests pay for translating this code (the
       emulator's JIT, TCG) and for warming the VMM's own code (V8's tiers). */
    for (uint32_t i = 0; i < bench; i++) {
      x = x * 1103515245u + 12345u;
      bad |= request(i & 1, (uint64_t)((x >> 8) % blocks) * 8, buf, 4096, !(i & 1));
    }
    for (int phase = 0; phase < 4; phase++) {
      kprintf("vblk-bench: %s start\n", names[phase]);
      for (uint32_t i = 0; i < bench; i++) {
        x = x * 1103515245u + 12345u;
        uint32_t blk = phase & 1 ? (x >> 8) % blocks : i % blocks;
        bad |= request(phase < 2 ? 0 : 1, (uint64_t)blk * 8, buf, 4096, phase < 2);
      }
      kprintf("vblk-bench: %s done %u\n", names[phase], bench);
    }
    if (use_msix) kprintf("vblk-bench: %u interrupts\n", interrupts);
    kprintf("vblk-bench: %s\n", bad ? "ERRORS" : "ok");
    debug_exit(bad ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
  }
  if (cmdline_has_word(cl, "loop")) {
    kprintf("vblk: looping\n");
    uint32_t n = 0;
    for (;;) {
      st = request(0, n & 7, buf, 4096, 1);
      if (st != 0) break;
      n++;
    }
    kprintf("vblk: read failed with status %d after %u reads\n", st, n);
    debug_exit(2);
  }
  int ok = st == 0 && ws == 0 && fs == 0 && rs == 0 && same;
  if (use_msix) {
    kprintf("vblk: %u MSI-X interrupts\n", interrupts);
    ok &= interrupts > 0;
  }
  kprintf("vblk: %s\n", ok ? "all ok" : "FAILED");
  debug_exit(ok ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
}
