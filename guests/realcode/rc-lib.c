/* The string and memory functions of a portable C library, the way such libraries write them in C: byte
 * loops, and word-at-a-time loops where both pointers allow it. Also the suite's failure flag, arena and
 * text generator. */
#include "rc.h"

typedef uintptr_t __attribute__((may_alias)) rc_word;
#define WSIZE sizeof(rc_word)
#define WMASK (WSIZE - 1)
#define ONES ((rc_word)-1 / 0xff)
#define HIGHS (ONES * 0x80)
#define HAS_ZERO(w) (((w) - ONES) & ~(w) & HIGHS)

const char *rc_failure;
void rc_fail(const char *why) {
  if (!rc_failure) rc_failure = why;
}

void *rc_alloc(struct rc_arena *a, size_t n) {
  static uint64_t spare[64];
  size_t at = (a->used + 7) & ~(size_t)7;
  if (n > a->size || at > a->size - n) {
    rc_fail("arena exhausted");
    return spare;
  }
  a->used = at + n;
  return a->base + at;
}

size_t rc_strlen(const char *s) {
  const char *p = s;
  while (*p) p++;
  return (size_t)(p - s);
}

size_t rc_strlen_words(const char *s) {
  const char *p = s;
  for (; (uintptr_t)p & WMASK; p++)
    if (!*p) return (size_t)(p - s);
  const rc_word *w = (const rc_word *)p;
  while (!HAS_ZERO(*w)) w++;
  p = (const char *)w;
  while (*p) p++;
  return (size_t)(p - s);
}

int rc_strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

int rc_strncmp(const char *a, const char *b, size_t n) {
  if (!n) return 0;
  while (--n && *a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

char *rc_strchr(const char *s, int c) {
  for (;; s++) {
    if (*s == (char)c) return (char *)s;
    if (!*s) return NULL;
  }
}

char *rc_strstr(const char *h, const char *n) {
  if (!*n) return (char *)h;
  for (; (h = rc_strchr(h, *n)) != NULL; h++) {
    size_t i = 1;
    while (n[i] && h[i] == n[i]) i++;
    if (!n[i]) return (char *)h;
  }
  return NULL;
}

char *rc_strcpy(char *d, const char *s) {
  char *r = d;
  while ((*d++ = *s++) != 0) {
  }
  return r;
}

void *rc_memchr(const void *s, int c, size_t n) {
  const unsigned char *p = s;
  for (; n; n--, p++)
    if (*p == (unsigned char)c) return (void *)p;
  return NULL;
}

void *rc_memcpy(void *d, const void *s, size_t n) {
  unsigned char *dp = d;
  const unsigned char *sp = s;
  if (n >= 2 * WSIZE && (((uintptr_t)dp ^ (uintptr_t)sp) & WMASK) == 0) {
    for (; (uintptr_t)dp & WMASK; n--) *dp++ = *sp++;
    rc_word *dw = (rc_word *)dp;
    const rc_word *sw = (const rc_word *)sp;
    for (; n >= 4 * WSIZE; n -= 4 * WSIZE, dw += 4, sw += 4) {
      dw[0] = sw[0];
      dw[1] = sw[1];
      dw[2] = sw[2];
      dw[3] = sw[3];
    }
    for (; n >= WSIZE; n -= WSIZE) *dw++ = *sw++;
    dp = (unsigned char *)dw;
    sp = (const unsigned char *)sw;
  }
  while (n--) *dp++ = *sp++;
  return d;
}

void *rc_memmove(void *d, const void *s, size_t n) {
  unsigned char *dp = d;
  const unsigned char *sp = s;
  if (dp == sp) return d;
  if ((uintptr_t)dp - (uintptr_t)sp >= n) return rc_memcpy(d, s, n); /* no harmful overlap: copy forwards */
  /* destination above an overlapping source: copy backwards */
  if ((((uintptr_t)dp ^ (uintptr_t)sp) & WMASK) == 0) {
    for (; (uintptr_t)(dp + n) & WMASK; ) {
      if (!n) return d;
      n--;
      dp[n] = sp[n];
    }
    for (; n >= WSIZE; ) {
      n -= WSIZE;
      *(rc_word *)(dp + n) = *(const rc_word *)(sp + n);
    }
  }
  while (n) {
    n--;
    dp[n] = sp[n];
  }
  return d;
}

void *rc_memset(void *d, int c, size_t n) {
  unsigned char *dp = d;
  if (n >= 2 * WSIZE) {
    rc_word w = ONES * (unsigned char)c;
    for (; (uintptr_t)dp & WMASK; n--) *dp++ = (unsigned char)c;
    rc_word *dw = (rc_word *)dp;
    for (; n >= 4 * WSIZE; n -= 4 * WSIZE, dw += 4) {
      dw[0] = w;
      dw[1] = w;
      dw[2] = w;
      dw[3] = w;
    }
    for (; n >= WSIZE; n -= WSIZE) *dw++ = w;
    dp = (unsigned char *)dw;
  }
  while (n--) *dp++ = (unsigned char)c;
  return d;
}

int rc_memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p - *q;
  return 0;
}

uint32_t rc_hash_bytes(uint32_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x01000193u;
  return h;
}

static const char *const WORDS[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
    "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
    "who", "so", "no", "system", "memory", "interrupt", "register", "emulator", "compiler", "instruction",
    "page", "table", "cache", "kernel", "process", "thread", "buffer", "pointer", "function",
};
#define NWORDS (sizeof WORDS / sizeof WORDS[0])

void rc_gen_text(char *buf, size_t n, uint32_t seed) {
  uint32_t s = seed | 1;
  size_t i = 0, col = 0;
  int cap = 1;
  while (i < n) {
    uint32_t r = rc_rand(&s);
    const char *w = WORDS[(r >> 8) % NWORDS];
    char num[12];
    if ((r & 31) == 0) { /* a number now and then */
      uint32_t v = (r >> 12) % 100000, k = 0;
      char t[12];
      do t[k++] = (char)('0' + v % 10); while ((v /= 10) != 0);
      for (uint32_t j = 0; j < k; j++) num[j] = t[k - 1 - j];
      num[k] = 0;
      w = num;
    }
    for (size_t j = 0; w[j] && i < n; j++, col++) buf[i++] = (char)(cap && j == 0 && w[j] >= 'a' ? w[j] - 32 : w[j]);
    cap = 0;
    if (i >= n) break;
    uint32_t p = (r >> 4) & 15;
    if (p == 0) buf[i++] = ',', col++;
    else if (p == 1) buf[i++] = '.', col++, cap = 1;
    if (i >= n) break;
    if (col > 60 + (r & 15)) buf[i++] = '\n', col = 0;
    else buf[i++] = ' ', col++;
  }
}
