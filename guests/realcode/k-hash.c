/* Open-addressing hash tables: integer keys with linear probing, tombstones and doubling rehash under a
 * mix of inserts, lookups and deletes; then a word-frequency count over text with string keys (FNV-1a,
 * compare by hash then bytes), as symbol tables and caches do. */
#include "rc.h"

enum { EMPTY, FULL, DEAD };
struct slot {
  uint32_t key, val;
  uint8_t state;
};

#define CAP_MAX 32768
static struct slot pool_a[CAP_MAX], pool_b[CAP_MAX];

struct table {
  struct slot *s;
  uint32_t cap, count, dead;
};

static inline uint32_t hash_u32(uint32_t k) {
  k ^= k >> 16;
  k *= 0x7feb352du;
  k ^= k >> 15;
  k *= 0x846ca68bu;
  return k ^ (k >> 16);
}

static void rehash(struct table *t, uint32_t cap) {
  struct slot *old = t->s, *to = old == pool_a ? pool_b : pool_a;
  uint32_t old_cap = t->cap;
  for (uint32_t i = 0; i < cap; i++) to[i].state = EMPTY;
  for (uint32_t i = 0; i < old_cap; i++) {
    if (old[i].state != FULL) continue;
    uint32_t j = hash_u32(old[i].key) & (cap - 1);
    while (to[j].state == FULL) j = (j + 1) & (cap - 1);
    to[j] = old[i];
  }
  t->s = to;
  t->cap = cap;
  t->dead = 0;
}

static void put(struct table *t, uint32_t key, uint32_t val) {
  if ((t->count + t->dead + 1) * 10 > t->cap * 7) {
    uint32_t cap = (t->count + 1) * 10 > t->cap * 5 ? t->cap * 2 : t->cap;
    if (cap > CAP_MAX) {
      rc_fail("hash: table full");
      return;
    }
    rehash(t, cap);
  }
  uint32_t i = hash_u32(key) & (t->cap - 1), tomb = 0xffffffffu;
  for (;;) {
    struct slot *s = &t->s[i];
    if (s->state == EMPTY) break;
    if (s->state == DEAD) {
      if (tomb == 0xffffffffu) tomb = i;
    } else if (s->key == key) {
      s->val = val;
      return;
    }
    i = (i + 1) & (t->cap - 1);
  }
  if (tomb != 0xffffffffu) {
    i = tomb;
    t->dead--;
  }
  t->s[i].key = key;
  t->s[i].val = val;
  t->s[i].state = FULL;
  t->count++;
}

static struct slot *find(struct table *t, uint32_t key) {
  uint32_t i = hash_u32(key) & (t->cap - 1);
  for (;;) {
    struct slot *s = &t->s[i];
    if (s->state == EMPTY) return NULL;
    if (s->state == FULL && s->key == key) return s;
    i = (i + 1) & (t->cap - 1);
  }
}

static int del(struct table *t, uint32_t key) {
  struct slot *s = find(t, key);
  if (!s) return 0;
  s->state = DEAD;
  t->count--;
  t->dead++;
  return 1;
}

/* ---- word counts with string keys ---- */
struct wslot {
  const char *word;
  uint32_t len, hash, count;
};
#define WCAP 4096
static struct wslot words[WCAP];
static char text[4096 + 1];
static char word_store[4096 + 2048];

static uint32_t count_words(uint32_t seed) {
  rc_gen_text(text, sizeof text - 1, seed);
  text[sizeof text - 1] = 0;
  for (uint32_t i = 0; i < WCAP; i++) words[i].word = NULL;
  uint32_t used = 0, distinct = 0;
  const char *p = text;
  char w[64];
  for (;;) {
    while (*p && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) p++;
    if (!*p) break;
    uint32_t len = 0, h = 0x811c9dc5u;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) {
      char c = *p++;
      if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
      if (len < sizeof w - 1) w[len++] = c, h = (h ^ (uint8_t)c) * 0x01000193u;
    }
    w[len] = 0;
    uint32_t i = h & (WCAP - 1);
    while (words[i].word && !(words[i].hash == h && words[i].len == len && !rc_strcmp(words[i].word, w))) i = (i + 1) & (WCAP - 1);
    if (words[i].word) {
      words[i].count++;
      continue;
    }
    if (used + len + 1 > sizeof word_store || distinct * 4 > WCAP * 3) {
      rc_fail("hash: word table full");
      break;
    }
    words[i].word = rc_strcpy(word_store + used, w);
    used += len + 1;
    words[i].len = len;
    words[i].hash = h;
    words[i].count = 1;
    distinct++;
  }
  uint32_t sum = distinct;
  for (uint32_t i = 0; i < WCAP; i++)
    if (words[i].word) sum = rc_mix(sum, words[i].hash + words[i].count * 2654435761u);
  return sum;
}

uint32_t k_hash(uint32_t n) {
  uint32_t seed = 0xabcdefu, sum = 0;
  for (uint32_t r = 0; r < n; r++) {
    struct table t = {pool_a, 1024, 0, 0};
    for (uint32_t i = 0; i < t.cap; i++) t.s[i].state = EMPTY;
    for (uint32_t i = 0; i < 2000; i++) {
      uint32_t k = rc_rand(&seed) % 3500u;
      put(&t, k, i);
    }
    uint32_t hits = 0, acc = 0;
    for (uint32_t i = 0; i < 4000; i++) {
      struct slot *s = find(&t, rc_rand(&seed) % 7000u);
      if (s) hits++, acc += s->val;
    }
    uint32_t gone = 0;
    for (uint32_t i = 0; i < 1000; i++) gone += (uint32_t)del(&t, rc_rand(&seed) % 3500u);
    for (uint32_t i = 0; i < 1000; i++) put(&t, rc_rand(&seed) % 5000u, i ^ 0x5555u);
    for (uint32_t i = 0; i < 2000; i++) {
      struct slot *s = find(&t, i * 3);
      if (s) hits++, acc ^= s->val * 31u;
    }
    uint32_t live = 0;
    for (uint32_t i = 0; i < t.cap; i++) live += t.s[i].state == FULL;
    if (live != t.count) rc_fail("hash: count differs from the live slots");
    sum = rc_mix(sum, hits);
    sum = rc_mix(sum, acc);
    sum = rc_mix(sum, gone);
    sum = rc_mix(sum, t.count);
    if ((r & 3) == 0) sum = rc_mix(sum, count_words(r + 1));
  }
  return sum;
}
