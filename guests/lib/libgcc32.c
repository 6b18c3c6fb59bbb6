/* The 64-bit division helpers gcc calls in 32-bit code (there is no 32-bit libgcc on the build machine). */
#include "rt.h"
#if !defined(__x86_64__)
uint64_t __udivdi3(uint64_t n, uint64_t d) { return udiv64(n, d, 0); }
uint64_t __umoddi3(uint64_t n, uint64_t d) { uint64_t r; udiv64(n, d, &r); return r; }
int64_t __divdi3(int64_t n, int64_t d) {
  int neg = (n < 0) != (d < 0);
  uint64_t q = udiv64(n < 0 ? -(uint64_t)n : (uint64_t)n, d < 0 ? -(uint64_t)d : (uint64_t)d, 0);
  return neg ? -(int64_t)q : (int64_t)q;
}
int64_t __moddi3(int64_t n, int64_t d) {
  uint64_t r;
  udiv64(n < 0 ? -(uint64_t)n : (uint64_t)n, d < 0 ? -(uint64_t)d : (uint64_t)d, &r);
  return n < 0 ? -(int64_t)r : (int64_t)r;
}
#endif
