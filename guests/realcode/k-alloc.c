/* A malloc/free of the segregated-fit kind (16-byte size classes with free lists, bump allocation from an
 * arena, a first-fit list for large blocks) under the churn of a program that keeps a working set of
 * objects of mostly small sizes, writing and checking each object's contents. */
#include "rc.h"

#define ARENA (6u << 20)
#define CLASSES 64 /* 16 .. 1024 bytes */
#define LIVE 2048

struct chunk {
  uint32_t size; /* usable bytes */
  uint32_t tag;
  struct chunk *next; /* while free */
};
#define HDR 8u /* the part of a chunk before the user's bytes */

static uint8_t arena[ARENA] __attribute__((aligned(16)));
static uint32_t bump;
static struct chunk *bins[CLASSES], *large;

static void heap_reset(void) {
  bump = 0;
  large = NULL;
  for (int i = 0; i < CLASSES; i++) bins[i] = NULL;
}

static void *rc_malloc(uint32_t n) {
  struct chunk *c;
  if (n <= 16 * CLASSES) {
    uint32_t cls = n ? (n - 1) / 16 : 0, size = (cls + 1) * 16;
    if ((c = bins[cls]) != NULL) {
      bins[cls] = c->next;
      return (uint8_t *)c + HDR;
    }
    n = size;
  } else {
    n = (n + 15) & ~15u;
    for (struct chunk **pp = &large; (c = *pp) != NULL; pp = &c->next)
      if (c->size >= n && c->size <= n + n / 4) { /* first fit that wastes little */
        *pp = c->next;
        return (uint8_t *)c + HDR;
      }
  }
  if (bump + HDR + n > ARENA) {
    rc_fail("alloc: arena exhausted");
    return NULL;
  }
  c = (struct chunk *)(arena + bump);
  bump += (HDR + n + 15) & ~15u;
  c->size = n;
  c->tag = 0xa110c;
  return (uint8_t *)c + HDR;
}

static void rc_free(void *p) {
  if (!p) return;
  struct chunk *c = (struct chunk *)((uint8_t *)p - HDR);
  if (c->tag != 0xa110c) {
    rc_fail("alloc: bad free");
    return;
  }
  if (c->size <= 16 * CLASSES) {
    uint32_t cls = c->size / 16 - 1;
    c->next = bins[cls];
    bins[cls] = c;
  } else {
    c->next = large;
    large = c;
  }
}

static uint8_t *live[LIVE];
static uint32_t live_len[LIVE];

uint32_t k_alloc(uint32_t n) {
  uint32_t seed = 0xa1105u, h = 0;
  for (uint32_t r = 0; r < n; r++) {
    heap_reset();
    for (uint32_t i = 0; i < LIVE; i++) live[i] = NULL;
    for (uint32_t step = 0; step < 6000; step++) {
      uint32_t x = rc_rand(&seed), i = x % LIVE;
      if (live[i]) {
        uint8_t *p = live[i];
        uint32_t len = live_len[i];
        if (p[0] != (uint8_t)len || p[len - 1] != (uint8_t)(i ^ len)) rc_fail("alloc: object contents changed");
        h = rc_mix(h, p[len / 2] + len);
        rc_free(p);
        live[i] = NULL;
        continue;
      }
      /* sizes: mostly small, sometimes medium, rarely large */
      uint32_t len = (x >> 12) & 3 ? 8 + (x >> 16) % 120 : (x >> 14) & 7 ? 64 + (x >> 16) % 900 : 1100 + (x >> 16) % 7000;
      uint8_t *p = rc_malloc(len);
      if (!p) break;
      rc_memset(p, (int)(step & 0xff), len);
      p[0] = (uint8_t)len;
      p[len - 1] = (uint8_t)(i ^ len);
      live[i] = p;
      live_len[i] = len;
    }
    h = rc_mix(h, bump >> 4);
  }
  return h;
}
