/* A Huffman coder: byte frequencies, the code tree built with a binary heap, canonical code lengths and
 * codes, an MSB-first bit writer, and a decoder with a 9-bit lookup table and a canonical slow path (the
 * shape of deflate's). The round trip must give back the input. */
#include "rc.h"

#define IN_MAX 4096
#define FAST_BITS 9
#define MAX_LEN 24 /* keeps the writer's 32-bit accumulator from overflowing (7 pending + 24) */

static uint8_t input[IN_MAX], coded[IN_MAX * 4], decoded[IN_MAX];

struct hnode {
  uint32_t freq;
  int32_t left, right; /* -1 for leaves */
};
static struct hnode nodes[512];
static int32_t heap[512];
static uint32_t heap_n;

static int less(int32_t a, int32_t b) { return nodes[a].freq != nodes[b].freq ? nodes[a].freq < nodes[b].freq : a < b; }
static void heap_push(int32_t v) {
  uint32_t i = heap_n++;
  while (i && less(v, heap[(i - 1) / 2])) {
    heap[i] = heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  heap[i] = v;
}
static int32_t heap_pop(void) {
  int32_t top = heap[0], v = heap[--heap_n];
  uint32_t i = 0;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= heap_n) break;
    if (c + 1 < heap_n && less(heap[c + 1], heap[c])) c++;
    if (!less(heap[c], v)) break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = v;
  return top;
}

static void lengths_of(int32_t n, uint32_t depth, uint8_t len[256]) {
  if (nodes[n].left < 0) {
    len[n] = (uint8_t)(depth ? depth : 1);
    return;
  }
  lengths_of(nodes[n].left, depth + 1, len);
  lengths_of(nodes[n].right, depth + 1, len);
}

struct code {
  uint8_t len[256];
  uint32_t bits[256];
  uint32_t count[MAX_LEN + 1], first[MAX_LEN + 1], offset[MAX_LEN + 1];
  uint8_t sorted[256];
  uint16_t fast[1 << FAST_BITS]; /* symbol | length << 8, 0 when the code is longer */
};
static struct code cd;

static int build(const uint8_t *in, uint32_t n) {
  uint32_t freq[256] = {0};
  for (uint32_t i = 0; i < n; i++) freq[in[i]]++;
  heap_n = 0;
  uint32_t nn = 256;
  for (uint32_t s = 0; s < 256; s++) {
    nodes[s].freq = freq[s];
    nodes[s].left = nodes[s].right = -1;
    cd.len[s] = 0;
    if (freq[s]) heap_push((int32_t)s);
  }
  if (!heap_n) return 0;
  while (heap_n > 1) {
    int32_t a = heap_pop(), b = heap_pop();
    nodes[nn].freq = nodes[a].freq + nodes[b].freq;
    nodes[nn].left = a;
    nodes[nn].right = b;
    heap_push((int32_t)nn++);
  }
  lengths_of(heap[0], 0, cd.len);
  /* canonical codes: by length, then by symbol */
  for (uint32_t l = 0; l <= MAX_LEN; l++) cd.count[l] = 0;
  for (uint32_t s = 0; s < 256; s++) {
    if (cd.len[s] > MAX_LEN) return 0;
    cd.count[cd.len[s]]++;
  }
  cd.count[0] = 0;
  uint32_t code = 0, k = 0;
  for (uint32_t l = 1; l <= MAX_LEN; l++) {
    code = (code + cd.count[l - 1]) << 1;
    cd.first[l] = code;
    cd.offset[l] = k;
    for (uint32_t s = 0; s < 256; s++)
      if (cd.len[s] == l) cd.bits[s] = code + (k - cd.offset[l]), cd.sorted[k++] = (uint8_t)s;
  }
  for (uint32_t i = 0; i < (1u << FAST_BITS); i++) cd.fast[i] = 0;
  for (uint32_t s = 0; s < 256; s++) {
    uint32_t l = cd.len[s];
    if (!l || l > FAST_BITS) continue;
    uint32_t base = cd.bits[s] << (FAST_BITS - l);
    for (uint32_t j = 0; j < (1u << (FAST_BITS - l)); j++) cd.fast[base + j] = (uint16_t)(s | l << 8);
  }
  return 1;
}

static uint32_t encode(const uint8_t *in, uint32_t n, uint8_t *out) {
  uint32_t acc = 0, nbits = 0, o = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t l = cd.len[in[i]];
    acc = (acc << l) | cd.bits[in[i]];
    nbits += l;
    while (nbits >= 8) {
      nbits -= 8;
      out[o++] = (uint8_t)(acc >> nbits);
    }
  }
  if (nbits) out[o++] = (uint8_t)(acc << (8 - nbits));
  return o;
}

struct bitreader {
  const uint8_t *p;
  uint32_t n, pos; /* pos in bits */
};
static inline uint32_t peek(struct bitreader *br, uint32_t k) {
  uint32_t v = 0;
  for (uint32_t i = 0; i < k; i++) {
    uint32_t bp = br->pos + i, byte = bp >> 3;
    v = v << 1 | (byte < br->n ? (br->p[byte] >> (7 - (bp & 7))) & 1 : 0);
  }
  return v;
}

static int decode(const uint8_t *in, uint32_t inlen, uint8_t *out, uint32_t n) {
  struct bitreader br = {in, inlen, 0};
  for (uint32_t i = 0; i < n; i++) {
    uint32_t f = cd.fast[peek(&br, FAST_BITS)];
    if (f) {
      out[i] = (uint8_t)f;
      br.pos += f >> 8;
      continue;
    }
    uint32_t code = 0, l;
    for (l = 1; l <= MAX_LEN; l++) {
      code = code << 1 | peek(&br, 1);
      br.pos++;
      if (code - cd.first[l] < cd.count[l]) break;
    }
    if (l > MAX_LEN) return 0;
    out[i] = cd.sorted[cd.offset[l] + code - cd.first[l]];
  }
  return 1;
}

static void make_input(uint32_t seed, uint32_t n) {
  uint32_t s = seed;
  if (seed & 1) {
    rc_gen_text((char *)input, n, seed);
    return;
  }
  /* skewed bytes: a geometric-like distribution over a shuffled alphabet */
  for (uint32_t i = 0; i < n; i++) {
    uint32_t r = rc_rand(&s), v = 0;
    while ((r & 3) != 0 && v < 40) v++, r >>= 2;
    input[i] = (uint8_t)(v * 37 + (seed & 0xff));
  }
}

uint32_t k_huffman(uint32_t n) {
  uint32_t h = 0;
  for (uint32_t r = 0; r < n; r++) {
    uint32_t len = IN_MAX - (r & 7) * 250;
    make_input(0x99u + r, len);
    if (!build(input, len)) {
      rc_fail("huffman: no code");
      return 0;
    }
    uint32_t clen = encode(input, len, coded);
    if (!decode(coded, clen, decoded, len) || rc_memcmp(input, decoded, len)) rc_fail("huffman: round trip differs");
    h = rc_mix(h, clen);
    h = rc_hash_bytes(h, coded, clen);
  }
  return h;
}
