/* realcode: kernels of real algorithms, compiled both as a guest (guest-main.c, 32-bit and 64-bit) and as a
 * host program (native/main.c), so that the guest's checksums can be checked against the host CPU's.
 * Kernel code includes only this header: no libc, no guest runtime. Every result that feeds a checksum is
 * computed in fixed-width unsigned arithmetic and never from a pointer value or a sizeof, so the 32-bit and
 * 64-bit builds and the host program print the same checksums. */
#ifndef REALCODE_RC_H
#define REALCODE_RC_H
#include <stdint.h>
#include <stddef.h>

/* One kernel: runs `n` units of work and returns a checksum of its results. */
typedef uint32_t (*rc_kernel_fn)(uint32_t n);
struct rc_kernel {
  const char *name;
  rc_kernel_fn fn;
  uint32_t n_default; /* about 27 M guest instructions each in the 32-bit build: ~400 M for the suite */
  uint32_t n_quick;   /* the correctness test's size: 0.3 to 3 M instructions each */
};
extern const struct rc_kernel rc_kernels[];
extern const unsigned rc_kernel_count;

/* A kernel whose own check fails (a known answer, a round trip, a sort order) records why; the driver prints
 * it and fails. Checksums alone cannot catch a bug that the host compiler shares. */
void rc_fail(const char *why);
extern const char *rc_failure;

/* xorshift32: the deterministic input of every kernel. */
static inline uint32_t rc_rand(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}
/* Folds a value into a running checksum. */
static inline uint32_t rc_mix(uint32_t h, uint32_t v) {
  h = (h ^ v) * 0x9E3779B1u;
  return h ^ (h >> 15);
}

/* A bump allocator over a caller's buffer (the tree-building kernels reset it per round). */
struct rc_arena {
  uint8_t *base;
  size_t size, used;
};
void *rc_alloc(struct rc_arena *a, size_t n); /* 8-byte aligned; rc_fail and a static spare block on exhaustion */

/* The C library's string and memory functions as portable C writes them (rc-lib.c); the kernels call these
 * rather than the host's or the guest runtime's, so that every build runs the same code. */
size_t rc_strlen(const char *s);
size_t rc_strlen_words(const char *s); /* word at a time, the "has a zero byte" trick */
int rc_strcmp(const char *a, const char *b);
int rc_strncmp(const char *a, const char *b, size_t n);
char *rc_strchr(const char *s, int c);
char *rc_strstr(const char *h, const char *n);
char *rc_strcpy(char *d, const char *s);
void *rc_memchr(const void *s, int c, size_t n);
void *rc_memcpy(void *d, const void *s, size_t n);
void *rc_memmove(void *d, const void *s, size_t n);
void *rc_memset(void *d, int c, size_t n);
int rc_memcmp(const void *a, const void *b, size_t n);
/* FNV-1a over a byte range: used by several kernels to checksum buffers. */
uint32_t rc_hash_bytes(uint32_t h, const void *p, size_t n);
/* Fills `buf` with English-like text of `n` bytes (words, spaces, punctuation, newlines; NUL-free). */
void rc_gen_text(char *buf, size_t n, uint32_t seed);

#endif
