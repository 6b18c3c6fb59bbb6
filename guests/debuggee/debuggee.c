/* debuggee (64-bit guest): a short fixed run for the gdb stub's tests on both backends. kmain calls bump() four
 * times, each call adding to the global `counter`, prints the sum and exits. It uses none of the debug
 * architecture itself (the debug guest does) and no x87/SSE instruction (kvm_pvm cannot emulate them in ring 0),
 * so it runs wherever a debugger's breakpoints and steps work, KVM's guest debugging included. */
#include "rt.h"

volatile uint32_t counter;

__attribute__((noinline)) void bump(uint32_t by) { counter += by; }

void kmain(uint32_t magic, uint32_t info) {
  (void)magic;
  (void)info;
  for (uint32_t i = 1; i <= 4; i++) bump(i);
  kprintf("debuggee: counter = %u\n", counter);
  debug_exit(counter == 10 ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
}
