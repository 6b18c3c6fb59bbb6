/* platform: checks the PC platform devices a VMM provides, with deterministic output (values that depend on the
 * date or the loader are checked, not printed): fw_cfg (signature, CPU count, RAM size against the multiboot
 * info), the multiboot memory map, the CMOS RTC (valid date and time in the format status register B announces),
 * unclaimed ports reading all-ones, the 8259 mask register, the BSP's local APIC id. With "reset" on the cmdline
 * it finally asks the i8042 for a system reset (QEMU -no-reboot and tsvmm then stop the VM with status 0). */
#include "rt.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_STATUS_A 0x0A
#define RTC_STATUS_B 0x0B
#define RTC_A_UIP 0x80
#define RTC_B_24H 0x02
#define RTC_B_BINARY 0x04
#define I8042_CMD 0x64
#define I8042_PULSE_RESET 0xFE
#define PIC1_DATA 0x21
#define LAPIC_ID 0xFEE00020u

static int failures;
static void check(const char *what, int ok) {
  kprintf("platform: %-52s %s\n", what, ok ? "ok" : "FAIL");
  failures += !ok;
}

static uint8_t cmos_read(uint8_t reg) {
  outb(CMOS_INDEX, reg); /* bit 7 clear: NMI stays enabled */
  return inb(CMOS_DATA);
}

static int bcd_ok(uint8_t v) { return (v & 0x0F) <= 9 && (v >> 4) <= 9; }
static uint8_t from_bcd(uint8_t v) { return (uint8_t)((v >> 4) * 10 + (v & 0x0F)); }

struct mmap_entry { uint32_t size; uint64_t addr, len; uint32_t type; } __attribute__((packed));

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)info;
  const char *cl = mb_cmdline(magic, info);
  int do_reset = cmdline_has_word(cl, "reset");
  check("multiboot magic in EAX", magic == MULTIBOOT_BOOTLOADER_MAGIC);

  /* fw_cfg */
  int fw = fw_cfg_present();
  check("fw_cfg signature \"QEMU\" at 0x510/0x511", fw);
  uint16_t ncpus = 0;
  uint64_t ram = 0;
  if (fw) {
    fw_cfg_read(FW_CFG_NB_CPUS, &ncpus, 2);
    fw_cfg_read(FW_CFG_RAM_SIZE, &ram, 8);
  }
  kprintf("platform: fw_cfg NB_CPUS = %u, RAM_SIZE = %u MiB\n", ncpus, (unsigned)(ram >> 20));

  /* RAM size: multiboot mem_upper (KiB above 1 MiB, up to the first hole) against fw_cfg */
  int mem_ok = (mbi->flags & MB_INFO_MEMORY) != 0;
  if (mem_ok && ram) {
    uint64_t mb = ((uint64_t)mbi->mem_upper + 1024) * 1024;
    uint64_t lim = ram < 0xC0000000ull ? ram : 0xC0000000ull; /* below the PCI hole */
    mem_ok = mb <= lim && lim - mb <= (1u << 20) && mbi->mem_lower >= 512 && mbi->mem_lower <= 640;
  }
  check("multiboot mem_lower/mem_upper agree with fw_cfg RAM", mem_ok);

  /* memory map: available RAM at 0 and a region holding this kernel (1 MiB) */
  int low = 0, high = 0, sane = 1;
  if (mbi->flags & MB_INFO_MMAP) {
    uint32_t p = mbi->mmap_addr, end = mbi->mmap_addr + mbi->mmap_length;
    while (p < end) {
      const struct mmap_entry *e = (const struct mmap_entry *)(uintptr_t)p;
      if (e->size < 20) { sane = 0; break; }
      if (e->type == 1 && e->addr == 0 && e->len >= 0x80000) low = 1;
      if (e->type == 1 && e->addr <= 0x100000 && e->addr + e->len >= 0x100000 + (64u << 10)) high = 1;
      p += e->size + 4;
    }
  }
  check("multiboot memory map: RAM at 0 and at 1 MiB", (mbi->flags & MB_INFO_MMAP) && sane && low && high);

  /* CMOS RTC: wait for no update in progress, then check the fields in the announced format */
  for (uint32_t spin = 0; spin < 1000000u && (cmos_read(RTC_STATUS_A) & RTC_A_UIP); spin++) pause();
  uint8_t b = cmos_read(RTC_STATUS_B);
  uint8_t sec = cmos_read(RTC_SECONDS), min = cmos_read(RTC_MINUTES), hour = cmos_read(RTC_HOURS);
  uint8_t day = cmos_read(RTC_DAY), mon = cmos_read(RTC_MONTH), year = cmos_read(RTC_YEAR);
  int pm = 0;
  if (!(b & RTC_B_24H)) { pm = hour & 0x80; hour &= 0x7F; }
  int rtc_ok = 1;
  if (!(b & RTC_B_BINARY)) {
    rtc_ok = bcd_ok(sec) && bcd_ok(min) && bcd_ok(hour) && bcd_ok(day) && bcd_ok(mon) && bcd_ok(year);
    sec = from_bcd(sec); min = from_bcd(min); hour = from_bcd(hour); day = from_bcd(day); mon = from_bcd(mon); year = from_bcd(year);
  }
  if (b & RTC_B_24H) rtc_ok &= hour <= 23;
  else rtc_ok &= hour >= 1 && hour <= 12;
  (void)pm;
  rtc_ok &= sec <= 59 && min <= 59 && day >= 1 && day <= 31 && mon >= 1 && mon <= 12 && year <= 99;
  check("CMOS RTC date and time valid (format from status B)", rtc_ok);

  /* unclaimed ports read all-ones (no COM2, LPT2 or game port on this machine; QEMU does have LPT1) */
  check("unclaimed ports 0x2fd, 0x27a, 0x200 read 0xff", inb(0x2FD) == 0xFF && inb(0x27A) == 0xFF && inb(0x200) == 0xFF);

  /* 8259 master: the interrupt mask register reads back what was written */
  uint8_t old_imr = inb(PIC1_DATA);
  outb(PIC1_DATA, 0xA5);
  uint8_t imr = inb(PIC1_DATA);
  outb(PIC1_DATA, old_imr);
  check("8259 interrupt mask register reads back", imr == 0xA5);

  check("BSP local APIC id is 0", (mmio_read32(LAPIC_ID) >> 24) == 0);

  if (failures) {
    kprintf("platform: FAIL\n");
    debug_exit(EXIT_FAILURE_CODE);
  }
  kprintf("platform: all as expected\n");
  if (do_reset) {
    kprintf("platform: resetting through the i8042 (command 0xFE)\n");
    outb(I8042_CMD, I8042_PULSE_RESET);
    for (uint32_t spin = 0; spin < 100000000u; spin++) pause();
    kprintf("platform: FAIL: still running after the reset command\n");
    debug_exit(EXIT_FAILURE_CODE);
  }
  debug_exit(EXIT_SUCCESS_CODE);
}
