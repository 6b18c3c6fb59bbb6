/* A generic qsort (element size and comparator as parameters, like the C library's): median-of-three
 * quicksort that recurses into the smaller side, insertion sort for short runs, byte/word swaps. Sorts
 * records by key through comparator pointers (ascending, then descending on the second key). */
#include "rc.h"

typedef int (*cmp_fn)(const void *, const void *);

static void swap(void *a, void *b, size_t size) {
  if ((size & 3) == 0) {
    uint32_t *p = a, *q = b;
    for (size /= 4; size; size--, p++, q++) {
      uint32_t t = *p;
      *p = *q;
      *q = t;
    }
  } else {
    unsigned char *p = a, *q = b;
    for (; size; size--, p++, q++) {
      unsigned char t = *p;
      *p = *q;
      *q = t;
    }
  }
}

static void insertion(unsigned char *base, size_t n, size_t size, cmp_fn cmp) {
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && cmp(base + (j - 1) * size, base + j * size) > 0; j--) swap(base + (j - 1) * size, base + j * size, size);
}

static void rc_qsort(void *vbase, size_t n, size_t size, cmp_fn cmp) {
  unsigned char *base = vbase;
  while (n > 12) {
    unsigned char *lo = base, *mid = base + (n / 2) * size, *hi = base + (n - 1) * size;
    if (cmp(mid, lo) < 0) swap(mid, lo, size);
    if (cmp(hi, mid) < 0) {
      swap(hi, mid, size);
      if (cmp(mid, lo) < 0) swap(mid, lo, size);
    }
    swap(mid, lo, size); /* pivot to the front */
    size_t i = 1, j = n - 1;
    for (;;) {
      while (i <= j && cmp(base + i * size, base) < 0) i++;
      while (j >= i && cmp(base + j * size, base) > 0) j--;
      if (i >= j) break;
      swap(base + i * size, base + j * size, size);
      i++, j--;
    }
    swap(base, base + j * size, size);
    /* recurse into the smaller part, loop on the larger */
    size_t left = j, right = n - j - 1;
    if (left < right) {
      rc_qsort(base, left, size, cmp);
      base += (j + 1) * size;
      n = right;
    } else {
      rc_qsort(base + (j + 1) * size, right, size, cmp);
      n = left;
    }
  }
  insertion(base, n, size, cmp);
}

struct rec {
  uint32_t key, sub, payload;
};

static int by_key(const void *a, const void *b) {
  const struct rec *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->sub < y->sub ? -1 : x->sub > y->sub;
}
static int by_sub_desc(const void *a, const void *b) {
  const struct rec *x = a, *y = b;
  if (x->sub != y->sub) return x->sub > y->sub ? -1 : 1;
  return x->key < y->key ? -1 : x->key > y->key;
}
static int by_u16(const void *a, const void *b) {
  uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
  return (int)x - (int)y;
}

#define NREC 1000
static struct rec recs[NREC];
static uint16_t shorts[NREC];

uint32_t k_qsort(uint32_t n) {
  uint32_t seed = 0xc0ffeeu, sum = 0;
  for (uint32_t r = 0; r < n; r++) {
    for (uint32_t i = 0; i < NREC; i++) {
      recs[i].key = rc_rand(&seed) & 0xfff; /* duplicates on purpose */
      recs[i].sub = i;
      recs[i].payload = rc_rand(&seed);
      shorts[i] = (uint16_t)recs[i].payload;
    }
    rc_qsort(recs, NREC, sizeof recs[0], by_key);
    for (uint32_t i = 1; i < NREC; i++)
      if (by_key(&recs[i - 1], &recs[i]) > 0) rc_fail("qsort: records out of order (key)");
    for (uint32_t i = 0; i < NREC; i += 97) sum = rc_mix(sum, recs[i].payload);
    rc_qsort(recs, NREC, sizeof recs[0], by_sub_desc);
    for (uint32_t i = 0; i < NREC; i++)
      if (recs[i].sub != NREC - 1 - i) rc_fail("qsort: records out of order (sub)");
    rc_qsort(shorts, NREC / 2, sizeof shorts[0], by_u16);
    for (uint32_t i = 1; i < NREC / 2; i++)
      if (shorts[i - 1] > shorts[i]) rc_fail("qsort: u16 out of order");
    sum = rc_mix(sum, shorts[NREC / 4]);
  }
  return sum;
}
