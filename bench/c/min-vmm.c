// Minimal C VMM, the peer of tsvmm's KVM run loop in bench/kvm/exits.mjs.
// Usage: min-vmm GUEST.bin LOAD_GPA
// Loads a flat binary at LOAD_GPA, starts it in 32-bit flat protected mode with the same
// VM setup tsvmm uses (in-kernel irqchip + PIT), counts port-I/O exits until the guest
// writes to port 0xf4, and prints "exits=N seconds=S" for the caller to parse.
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (16u << 20)
#define DEBUG_EXIT_PORT 0xf4

static void die(const char *what) {
  fprintf(stderr, "min-vmm: %s: %s\n", what, strerror(errno));
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: min-vmm GUEST.bin LOAD_GPA\n");
    return 64;
  }
  unsigned long load = strtoul(argv[2], 0, 0);
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) die("KVM_SET_TSS_ADDR");
  if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
  struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
  if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0) die("KVM_CREATE_PIT2");
  unsigned char *mem = mmap(0, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) die("mmap guest RAM");
  FILE *f = fopen(argv[1], "rb");
  if (!f) die(argv[1]);
  size_t n = fread(mem + load, 1, MEM_SIZE - load, f);
  fclose(f);
  if (n == 0) die("empty guest");
  struct kvm_userspace_memory_region reg = {.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (unsigned long)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(0, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");

  struct kvm_sregs s;
  if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0) die("KVM_GET_SREGS");
  struct kvm_segment cs = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 11, .present = 1, .db = 1, .s = 1, .g = 1};
  struct kvm_segment ds = cs;
  ds.type = 3;
  ds.selector = 0x18;
  s.cs = cs;
  s.ds = s.es = s.fs = s.gs = s.ss = ds;
  s.cr0 = 0x11;
  if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0) die("KVM_SET_SREGS");
  struct kvm_regs r;
  memset(&r, 0, sizeof r);
  r.rflags = 2;
  r.rip = load;
  r.rsp = 0x8000;
  if (ioctl(vcpu, KVM_SET_REGS, &r) < 0) die("KVM_SET_REGS");

  unsigned long exits = 0;
  unsigned long sink = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    if (run->exit_reason != KVM_EXIT_IO) {
      fprintf(stderr, "min-vmm: unexpected exit %u\n", run->exit_reason);
      return 3;
    }
    exits++;
    unsigned char *data = (unsigned char *)run + run->io.data_offset;
    if (run->io.port == DEBUG_EXIT_PORT) break;
    if (run->io.direction == KVM_EXIT_IO_OUT) sink += data[0];
    else data[0] = 0xff;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("exits=%lu seconds=%.6f sink=%lu\n", exits, secs, sink);
  return 0;
}
