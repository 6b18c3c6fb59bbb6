/* LZSS (LZ77 with literal/match flags): hash-chained match search over a 4 KiB window, 3..18-byte matches
 * coded in two bytes, eight items per flag byte; then the decoder, and a byte-for-byte round-trip check. */
#include "rc.h"

#define WIN 4096
#define MIN_MATCH 3
#define MAX_MATCH 18
#define HBITS 13
#define MAX_CHAIN 24
#define IN_MAX 8192

static uint8_t input[IN_MAX], packed[IN_MAX + IN_MAX / 8 + 16], output[IN_MAX];
static int32_t head[1 << HBITS], prev[WIN];

static inline uint32_t hash3(const uint8_t *p) {
  return (((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]) * 2654435761u) >> (32 - HBITS);
}

static void insert(const uint8_t *in, uint32_t pos) {
  uint32_t h = hash3(in + pos);
  prev[pos % WIN] = head[h];
  head[h] = (int32_t)pos;
}

static uint32_t compress(const uint8_t *in, uint32_t n, uint8_t *out) {
  for (uint32_t i = 0; i < (1u << HBITS); i++) head[i] = -1;
  uint32_t pos = 0, o = 0, flag_at = 0, items = 8;
  while (pos < n) {
    if (items == 8) {
      flag_at = o++;
      out[flag_at] = 0;
      items = 0;
    }
    uint32_t best = 0, best_off = 0;
    if (pos + MIN_MATCH <= n) {
      uint32_t max = n - pos < MAX_MATCH ? n - pos : MAX_MATCH;
      int32_t cand = head[hash3(in + pos)];
      for (int chain = MAX_CHAIN; cand >= 0 && pos - (uint32_t)cand <= WIN && chain; chain--) {
        const uint8_t *a = in + cand, *b = in + pos;
        uint32_t len = 0;
        while (len < max && a[len] == b[len]) len++;
        if (len > best) {
          best = len;
          best_off = pos - (uint32_t)cand;
          if (len == max) break;
        }
        cand = prev[cand % WIN];
      }
    }
    uint32_t step;
    if (best >= MIN_MATCH) {
      out[flag_at] |= (uint8_t)(1u << items);
      uint32_t off = best_off - 1;
      out[o++] = (uint8_t)off;
      out[o++] = (uint8_t)((off >> 8) << 4 | (best - MIN_MATCH));
      step = best;
    } else {
      out[o++] = in[pos];
      step = 1;
    }
    items++;
    for (uint32_t k = 0; k < step; k++, pos++)
      if (pos + MIN_MATCH <= n) insert(in, pos);
  }
  return o;
}

/* Returns the decoded size, or 0xffffffff on a malformed stream. */
static uint32_t decompress(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap) {
  uint32_t i = 0, o = 0;
  while (i < n) {
    uint32_t flags = in[i++];
    for (int k = 0; k < 8 && i < n; k++, flags >>= 1) {
      if (flags & 1) {
        if (i + 2 > n) return 0xffffffffu;
        uint32_t off = (in[i] | (uint32_t)(in[i + 1] >> 4) << 8) + 1, len = (in[i + 1] & 15u) + MIN_MATCH;
        i += 2;
        if (off > o || o + len > cap) return 0xffffffffu;
        for (uint32_t j = 0; j < len; j++, o++) out[o] = out[o - off];
      } else {
        if (o >= cap) return 0xffffffffu;
        out[o++] = in[i++];
      }
    }
  }
  return o;
}

static void make_input(uint32_t seed, uint32_t n) {
  rc_gen_text((char *)input, n, seed);
  /* some incompressible stretches and long runs, as real files have */
  uint32_t s = seed * 7 + 1;
  for (uint32_t k = 0; k < 6; k++) {
    uint32_t at = rc_rand(&s) % (n - 512), len = 64 + rc_rand(&s) % 256;
    if (k & 1)
      for (uint32_t j = 0; j < len; j++) input[at + j] = (uint8_t)rc_rand(&s);
    else
      for (uint32_t j = 0; j < len; j++) input[at + j] = (uint8_t)('a' + k);
  }
}

uint32_t k_lz77(uint32_t n) {
  uint32_t sum = 0;
  for (uint32_t r = 0; r < n; r++) {
    uint32_t len = IN_MAX - (r % 8) * 256;
    make_input(0x1234u + r, len);
    uint32_t plen = compress(input, len, packed);
    uint32_t dlen = decompress(packed, plen, output, sizeof output);
    if (dlen != len || rc_memcmp(input, output, len)) rc_fail("lz77: round trip differs");
    sum = rc_mix(sum, plen);
    sum = rc_mix(sum, rc_hash_bytes(0x811c9dc5u, packed, plen));
  }
  return sum;
}
