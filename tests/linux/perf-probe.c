/*
 * perf-probe: drives Linux's perf_event subsystem, and through it the CPU's PMU, from user space, and prints
 * what it measured as "name value" lines (tests/linux/perf-events.test.ts reads them).
 *
 * Every measurement is taken twice, around spin(N1) and spin(N2), and the difference printed: the instructions
 * of the calls around the loop cancel, so on an exact PMU the differences are exact (2 * (N2 - N1) instructions,
 * N2 - N1 branches), whatever the kernel does meanwhile (exclude_kernel: interrupts and context switches run in
 * kernel mode and are not counted).
 *   count.*   counting events (read(2) after PERF_EVENT_IOC_DISABLE);
 *   rdpmc.*   the same counters read in user mode with RDPMC, as perf_event_mmap_page describes (CR4.PCE);
 *   sample.*  overflow interrupts: an event with a sample period, each overflow a queued signal (the PMI is an
 *             NMI through the local APIC's LVTPC, so this checks the overflow path end to end);
 *   mux.*     more events than counters: the kernel rotates them, and each reports a running time below its
 *             enabled time.
 * Built static (gcc -O2 -static) so that it runs in the busybox initramfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N1 100000ULL
#define N2 1100000ULL

/* Exactly 2 * n user-mode instructions and n branches in the loop (n >= 1). */
static __attribute__((noinline)) void spin(uint64_t n) {
  __asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

static int open_event(uint32_t type, uint64_t config, uint64_t period, uint64_t read_format) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = type;
  a.config = config;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  a.read_format = read_format;
  if (period != 0) {
    a.sample_period = period;
    a.wakeup_events = 1;
  }
  return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t counted(int fd, uint64_t n) {
  uint64_t v = 0;
  ioctl(fd, PERF_EVENT_IOC_RESET, 0);
  ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  spin(n);
  ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
  if (read(fd, &v, sizeof v) != sizeof v) return UINT64_MAX;
  return v;
}

static const struct {
  const char *name;
  uint64_t config;
} EVENTS[] = {
    {"instructions", PERF_COUNT_HW_INSTRUCTIONS},
    {"branches", PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    {"cycles", PERF_COUNT_HW_CPU_CYCLES},
};

static void count_events(void) {
  for (unsigned k = 0; k < sizeof EVENTS / sizeof EVENTS[0]; k++) {
    int fd = open_event(PERF_TYPE_HARDWARE, EVENTS[k].config, 0, 0);
    if (fd < 0) {
      printf("count.%s error %s\n", EVENTS[k].name, strerror(errno));
      continue;
    }
    uint64_t a = counted(fd, N1), b = counted(fd, N2);
    printf("count.%s.n1 %llu\n", EVENTS[k].name, (unsigned long long)a);
    printf("count.%s.diff %lld\n", EVENTS[k].name, (long long)(b - a));
    close(fd);
  }
}

static uint64_t rdpmc(uint32_t c) {
  uint32_t lo, hi;
  __asm__ volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(c));
  return (uint64_t)hi << 32 | lo;
}

/* The counter through the event's user page, as the perf_event_mmap_page comment prescribes. */
static int64_t user_read(volatile struct perf_event_mmap_page *pc, int *ok) {
  uint32_t seq;
  int64_t count;
  do {
    seq = pc->lock;
    __asm__ volatile("" ::: "memory");
    uint32_t idx = pc->index;
    count = pc->offset;
    if (pc->cap_user_rdpmc && idx != 0) {
      int64_t pmc = (int64_t)rdpmc(idx - 1);
      unsigned width = pc->pmc_width;
      pmc <<= 64 - width;
      pmc >>= 64 - width;
      count += pmc;
      *ok = 1;
    } else {
      *ok = 0;
    }
    __asm__ volatile("" ::: "memory");
  } while (pc->lock != seq);
  return count;
}

static void rdpmc_events(void) {
  for (unsigned k = 0; k < 2; k++) {
    int fd = open_event(PERF_TYPE_HARDWARE, EVENTS[k].config, 0, 0);
    if (fd < 0) {
      printf("rdpmc.%s error %s\n", EVENTS[k].name, strerror(errno));
      continue;
    }
    void *page = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd, 0);
    if (page == MAP_FAILED) {
      printf("rdpmc.%s error mmap %s\n", EVENTS[k].name, strerror(errno));
      close(fd);
      continue;
    }
    volatile struct perf_event_mmap_page *pc = page;
    int64_t d[2];
    int ok = 1, o1, o2;
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    for (int r = 0; r < 2; r++) {
      int64_t before = user_read(pc, &o1);
      spin(r == 0 ? N1 : N2);
      int64_t after = user_read(pc, &o2);
      ok = ok && o1 && o2;
      d[r] = after - before;
    }
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    if (!ok) printf("rdpmc.%s error no user rdpmc (cap_user_rdpmc %u index %u)\n", EVENTS[k].name, (unsigned)pc->cap_user_rdpmc, (unsigned)pc->index);
    else printf("rdpmc.%s.diff %lld\n", EVENTS[k].name, (long long)(d[1] - d[0]));
    munmap(page, (size_t)sysconf(_SC_PAGESIZE));
    close(fd);
  }
}

static volatile sig_atomic_t overflows;

static void on_overflow(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  (void)uc;
  overflows++;
}

#define PERIOD 200000ULL
#define SAMPLE_N 5000000ULL

static void sample_events(void) {
  int fd = open_event(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, PERIOD, 0);
  if (fd < 0) {
    printf("sample.instructions error %s\n", strerror(errno));
    return;
  }
  int sig = SIGRTMIN + 1; /* a real-time signal: overflows queue instead of merging */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_overflow;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(sig, &sa, NULL);
  fcntl(fd, F_SETFL, O_RDWR | O_NONBLOCK | O_ASYNC);
  fcntl(fd, F_SETSIG, sig);
  fcntl(fd, F_SETOWN, getpid());
  overflows = 0;
  ioctl(fd, PERF_EVENT_IOC_RESET, 0);
  ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  spin(SAMPLE_N);
  ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
  uint64_t v = 0;
  if (read(fd, &v, sizeof v) != sizeof v) v = 0;
  printf("sample.instructions.count %llu\n", (unsigned long long)v);
  printf("sample.instructions.period %llu\n", (unsigned long long)PERIOD);
  printf("sample.instructions.overflows %d\n", (int)overflows);
  close(fd);
}

#define MUX_EVENTS 12
#define MUX_N 50000000ULL

static void mux_events(void) {
  int fds[MUX_EVENTS];
  int open = 0;
  for (int k = 0; k < MUX_EVENTS; k++) {
    fds[k] = open_event(PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS, 0, PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING);
    if (fds[k] < 0) {
      printf("mux error %s\n", strerror(errno));
      break;
    }
    open++;
  }
  if (open < MUX_EVENTS) {
    for (int k = 0; k < open; k++) close(fds[k]);
    return;
  }
  for (int k = 0; k < MUX_EVENTS; k++) ioctl(fds[k], PERF_EVENT_IOC_ENABLE, 0);
  spin(MUX_N);
  for (int k = 0; k < MUX_EVENTS; k++) ioctl(fds[k], PERF_EVENT_IOC_DISABLE, 0);
  int partial = 0;
  uint64_t minEst = UINT64_MAX, maxEst = 0;
  for (int k = 0; k < MUX_EVENTS; k++) {
    uint64_t r[3] = {0, 0, 0};
    if (read(fds[k], r, sizeof r) != sizeof r || r[2] == 0) {
      printf("mux error event %d never ran\n", k);
      continue;
    }
    if (r[2] < r[1]) partial++;
    /* The kernel's estimate of the whole count: value * enabled / running. */
    uint64_t est = (uint64_t)((double)r[0] * (double)r[1] / (double)r[2]);
    if (est < minEst) minEst = est;
    if (est > maxEst) maxEst = est;
    close(fds[k]);
  }
  printf("mux.events %d\n", MUX_EVENTS);
  printf("mux.partial %d\n", partial);
  printf("mux.expected %llu\n", (unsigned long long)MUX_N);
  printf("mux.estimate.min %llu\n", (unsigned long long)minEst);
  printf("mux.estimate.max %llu\n", (unsigned long long)maxEst);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  printf("perf-probe start n1 %llu n2 %llu\n", N1, N2);
  count_events();
  rdpmc_events();
  sample_events();
  mux_events();
  printf("perf-probe done\n");
  return 0;
}
