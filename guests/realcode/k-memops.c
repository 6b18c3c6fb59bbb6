/* memcpy, memmove, memset and memcmp over sizes from 8 bytes to 64 KiB, with aligned and misaligned
 * pointers: the copies real programs make (small structs, lines, pages, buffers). */
#include "rc.h"

#define BUF (65536 + 64)
static uint8_t src[BUF] __attribute__((aligned(64))), dst[BUF] __attribute__((aligned(64)));

static const uint32_t SIZES[] = {8, 13, 16, 24, 32, 64, 100, 256, 1000, 4096, 16384, 65536};
static const uint32_t OFFS[][2] = {{0, 0}, {1, 1}, {3, 0}, {0, 5}, {4, 4}};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])
#define NOFFS (sizeof OFFS / sizeof OFFS[0])

uint32_t k_memops(uint32_t n) {
  uint32_t seed = 0x3e3e3e3u, h = 0;
  for (uint32_t i = 0; i < BUF; i++) src[i] = (uint8_t)(rc_rand(&seed) >> 24);
  for (uint32_t r = 0; r < n; r++) {
    uint32_t oi = r % NOFFS; /* one alignment pair per round */
    for (uint32_t si = 0; si < NSIZES; si++) {
      uint32_t size = SIZES[si];
      /* about the same number of bytes moved for every size (a bit fewer for the smallest) */
      uint32_t reps = 16384 / size;
      if (reps > 16) reps = 16;
      if (!reps) reps = 1;
      {
        uint8_t *d = dst + OFFS[oi][0];
        const uint8_t *s = src + OFFS[oi][1];
        for (uint32_t k = 0; k < reps; k++) {
          uint32_t at = size < 4096 ? (k * 61) & 4095 : 0;
          rc_memcpy(d + at, s + at, size);
        }
        h = rc_mix(h, d[size - 1] | (uint32_t)d[size / 2] << 8 | (uint32_t)d[0] << 16);
        if (rc_memcmp(d, s, size)) rc_fail("memops: memcpy result differs");
        rc_memset(d, (int)(r + si), size);
        h = rc_mix(h, d[size - 1] + (uint32_t)rc_memcmp(d, s, size < 16 ? size : 16));
        /* overlapping moves both ways */
        rc_memcpy(d, s, size);
        rc_memmove(d + 3, d, size - 3);
        rc_memmove(d, d + 5, size - 5);
        h = rc_mix(h, rc_hash_bytes(0, d, size < 64 ? size : 64));
        if (d[size - 6] != s[size - 4] || d[0] != s[2]) rc_fail("memops: memmove result differs");
      }
    }
  }
  return h;
}
