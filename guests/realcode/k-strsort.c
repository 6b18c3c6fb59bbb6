/* Sorting strings: a top-down merge sort of string pointers with strcmp (stable, with a scratch array),
 * then duplicate removal and binary searches, as indexers and `sort | uniq` do. */
#include "rc.h"

#define NSTR 1000
static char store[NSTR * 24];
static const char *items[NSTR], *scratch[NSTR];

static const char *const PARTS[] = {"alpha", "beta", "gamma", "kernel", "kern", "page", "pag", "a", "zz", "memory", "mem", "x86", "x", "_", "interrupt"};
#define NPARTS (sizeof PARTS / sizeof PARTS[0])

static void msort(const char **a, const char **tmp, uint32_t n) {
  if (n < 2) return;
  uint32_t h = n / 2;
  msort(a, tmp, h);
  msort(a + h, tmp, n - h);
  if (rc_strcmp(a[h - 1], a[h]) <= 0) return; /* already in order */
  uint32_t i = 0, j = h, k = 0;
  while (i < h && j < n) tmp[k++] = rc_strcmp(a[j], a[i]) < 0 ? a[j++] : a[i++];
  while (i < h) tmp[k++] = a[i++];
  while (j < n) tmp[k++] = a[j++];
  for (k = 0; k < n; k++) a[k] = tmp[k];
}

static int bsearch_str(const char **a, uint32_t n, const char *key) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = rc_strcmp(a[mid], key);
    if (!c) return (int)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

uint32_t k_strsort(uint32_t n) {
  uint32_t seed = 0x5071u, h = 0;
  for (uint32_t r = 0; r < n; r++) {
    char *p = store;
    for (uint32_t i = 0; i < NSTR; i++) {
      uint32_t x = rc_rand(&seed);
      items[i] = p;
      p = rc_strcpy(p, PARTS[x % NPARTS]) + rc_strlen(PARTS[x % NPARTS]);
      p = rc_strcpy(p, PARTS[(x >> 8) % NPARTS]) + rc_strlen(PARTS[(x >> 8) % NPARTS]);
      if (x & 0x100000) *p++ = (char)('0' + (x >> 21) % 10);
      *p++ = 0;
    }
    msort(items, scratch, NSTR);
    uint32_t uniq = 0;
    for (uint32_t i = 0; i < NSTR; i++) {
      if (i && rc_strcmp(items[i - 1], items[i]) > 0) rc_fail("strsort: out of order");
      if (!i || rc_strcmp(items[uniq - 1], items[i])) items[uniq++] = items[i];
    }
    h = rc_mix(h, uniq);
    for (uint32_t i = 0; i < uniq; i += 5) h = rc_hash_bytes(h, items[i], rc_strlen(items[i]));
    for (uint32_t i = 0; i < 200; i++) {
      uint32_t x = rc_rand(&seed);
      char key[24];
      char *q = rc_strcpy(key, PARTS[x % NPARTS]) + rc_strlen(PARTS[x % NPARTS]);
      rc_strcpy(q, PARTS[(x >> 8) % NPARTS]);
      h = rc_mix(h, (uint32_t)(bsearch_str(items, uniq, key) + 1));
    }
  }
  return h;
}
