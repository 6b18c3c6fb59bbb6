/* Multi-precision arithmetic with 32-bit limbs and 64-bit products: factorials times powers (schoolbook
 * multiply), conversion to decimal, and 256-bit modular exponentiation with Montgomery multiplication
 * (the core of RSA/DH), checked with Fermat's little theorem on the prime 2^256 - 189. */
#include "rc.h"

#define LIMBS 160
struct big {
  uint32_t n; /* limbs in use */
  uint32_t d[LIMBS];
};

static void big_set(struct big *a, uint32_t v) {
  a->n = 1;
  a->d[0] = v;
}
static void big_mul_small(struct big *a, uint32_t m) {
  uint64_t carry = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    uint64_t t = (uint64_t)a->d[i] * m + carry;
    a->d[i] = (uint32_t)t;
    carry = t >> 32;
  }
  if (carry && a->n < LIMBS) a->d[a->n++] = (uint32_t)carry;
}
static void big_mul(struct big *r, const struct big *a, const struct big *b) {
  uint32_t n = a->n + b->n;
  if (n > LIMBS) {
    rc_fail("bignum: product too large");
    n = LIMBS;
  }
  for (uint32_t i = 0; i < n; i++) r->d[i] = 0;
  for (uint32_t i = 0; i < a->n; i++) {
    uint64_t carry = 0;
    for (uint32_t j = 0; j < b->n && i + j < n; j++) {
      uint64_t t = (uint64_t)a->d[i] * b->d[j] + r->d[i + j] + carry;
      r->d[i + j] = (uint32_t)t;
      carry = t >> 32;
    }
    if (i + b->n < n) r->d[i + b->n] = (uint32_t)carry;
  }
  while (n > 1 && !r->d[n - 1]) n--;
  r->n = n;
}
/* Divides by 10000 in place through 16-bit halves (no 64-bit division); returns the remainder. */
static uint32_t big_div10k(struct big *a) {
  uint32_t r = 0;
  for (uint32_t i = a->n; i-- > 0;) {
    uint32_t x = r << 16 | a->d[i] >> 16, qh = x / 10000;
    r = x % 10000;
    x = r << 16 | (a->d[i] & 0xffff);
    uint32_t ql = x / 10000;
    r = x % 10000;
    a->d[i] = qh << 16 | ql;
  }
  while (a->n > 1 && !a->d[a->n - 1]) a->n--;
  return r;
}
static uint32_t big_to_dec(struct big *a, char *out) { /* destroys a; returns the length */
  char tmp[LIMBS * 10 + 8];
  uint32_t k = 0;
  do {
    uint32_t r = big_div10k(a);
    for (int i = 0; i < 4; i++) tmp[k++] = (char)('0' + r % 10), r /= 10;
  } while (a->n > 1 || a->d[0]);
  while (k > 1 && tmp[k - 1] == '0') k--;
  for (uint32_t i = 0; i < k; i++) out[i] = tmp[k - 1 - i];
  out[k] = 0;
  return k;
}

/* ---- Montgomery arithmetic modulo a 256-bit odd m ---- */
#define S 8
struct mont {
  uint32_t m[S], r2[S], m0inv; /* m0inv = -m^-1 mod 2^32 */
};
static void mont_mul(const struct mont *c, uint32_t r[S], const uint32_t a[S], const uint32_t b[S]) {
  uint32_t t[S + 2] = {0};
  for (int i = 0; i < S; i++) {
    uint64_t carry = 0;
    for (int j = 0; j < S; j++) {
      uint64_t x = (uint64_t)a[j] * b[i] + t[j] + carry;
      t[j] = (uint32_t)x;
      carry = x >> 32;
    }
    uint64_t x = (uint64_t)t[S] + carry;
    t[S] = (uint32_t)x;
    t[S + 1] = (uint32_t)(x >> 32);
    uint32_t q = t[0] * c->m0inv;
    x = (uint64_t)q * c->m[0] + t[0];
    carry = x >> 32;
    for (int j = 1; j < S; j++) {
      x = (uint64_t)q * c->m[j] + t[j] + carry;
      t[j - 1] = (uint32_t)x;
      carry = x >> 32;
    }
    x = (uint64_t)t[S] + carry;
    t[S - 1] = (uint32_t)x;
    t[S] = t[S + 1] + (uint32_t)(x >> 32);
  }
  /* conditional subtract: t >= m */
  int ge = t[S] != 0;
  if (!ge) {
    ge = 1;
    for (int j = S - 1; j >= 0; j--)
      if (t[j] != c->m[j]) {
        ge = t[j] > c->m[j];
        break;
      }
  }
  if (ge) {
    uint64_t borrow = 0;
    for (int j = 0; j < S; j++) {
      uint64_t x = (uint64_t)t[j] - c->m[j] - borrow;
      t[j] = (uint32_t)x;
      borrow = (x >> 32) & 1;
    }
  }
  for (int j = 0; j < S; j++) r[j] = t[j];
}
static void mont_init(struct mont *c, const uint32_t m[S]) {
  for (int i = 0; i < S; i++) c->m[i] = m[i];
  uint32_t inv = 1; /* Newton: inv = inv * (2 - m0 * inv), doubling the correct bits */
  for (int i = 0; i < 5; i++) inv *= 2 - m[0] * inv;
  c->m0inv = 0u - inv;
  /* r2 = 2^512 mod m by doubling 1 */
  uint32_t x[S + 1] = {1};
  for (int k = 0; k < 2 * 32 * S; k++) {
    uint32_t top = 0;
    for (int j = 0; j <= S; j++) {
      uint32_t nt = x[j] >> 31;
      x[j] = x[j] << 1 | top;
      top = nt;
    }
    int ge = x[S] != 0;
    if (!ge) {
      ge = 1;
      for (int j = S - 1; j >= 0; j--)
        if (x[j] != m[j]) {
          ge = x[j] > m[j];
          break;
        }
    }
    if (ge) {
      uint64_t borrow = 0;
      for (int j = 0; j < S; j++) {
        uint64_t d = (uint64_t)x[j] - m[j] - borrow;
        x[j] = (uint32_t)d;
        borrow = (d >> 32) & 1;
      }
      x[S] -= (uint32_t)borrow;
    }
  }
  for (int i = 0; i < S; i++) c->r2[i] = x[i];
}
static void mont_pow(const struct mont *c, uint32_t r[S], const uint32_t base[S], const uint32_t e[S]) {
  static const uint32_t one[S] = {1};
  uint32_t b[S], acc[S];
  mont_mul(c, b, base, c->r2);  /* to Montgomery form */
  mont_mul(c, acc, one, c->r2); /* R mod m */
  for (int i = S * 32 - 1; i >= 0; i--) {
    mont_mul(c, acc, acc, acc);
    if ((e[i / 32] >> (i % 32)) & 1) mont_mul(c, acc, acc, b);
  }
  mont_mul(c, r, acc, one); /* out of Montgomery form */
}

uint32_t k_bignum(uint32_t n) {
  static struct big a, b, c;
  static char dec[LIMBS * 10 + 8];
  big_set(&a, 1);
  for (uint32_t i = 2; i <= 30; i++) big_mul_small(&a, i);
  big_to_dec(&a, dec);
  if (rc_strcmp(dec, "265252859812191058636308480000000")) rc_fail("bignum: 30! in decimal");

  /* p = 2^256 - 189 (prime): a^(p-1) = 1 mod p */
  static const uint32_t P[S] = {0xffffff43u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ~0u};
  uint32_t pm1[S];
  for (int i = 0; i < S; i++) pm1[i] = P[i];
  pm1[0] -= 1;
  struct mont mc;
  mont_init(&mc, P);
  uint32_t seed = 0xb16b00b5u, h = 0;
  for (uint32_t r = 0; r < n; r++) {
    big_set(&a, 1);
    for (uint32_t i = 2; i <= 60 + (r & 31); i++) big_mul_small(&a, i);
    big_set(&b, 1);
    for (uint32_t i = 0; i < 40 + (r & 31); i++) big_mul_small(&b, 3u * 3u * 3u * 3u * 3u);
    big_mul(&c, &a, &b);
    uint32_t len = big_to_dec(&c, dec);
    h = rc_mix(h, len);
    h = rc_hash_bytes(h, dec, len);

    uint32_t base[S], res[S];
    for (int i = 0; i < S; i++) base[i] = rc_rand(&seed);
    base[S - 1] &= 0x7fffffffu; /* < p */
    if (r == 0) {
      mont_pow(&mc, res, base, pm1);
      if (res[0] != 1) rc_fail("bignum: Fermat test failed");
      for (int i = 1; i < S; i++)
        if (res[i]) rc_fail("bignum: Fermat test failed");
    }
    uint32_t e[S];
    for (int i = 0; i < S; i++) e[i] = rc_rand(&seed);
    mont_pow(&mc, res, base, e);
    for (int i = 0; i < S; i++) h = rc_mix(h, res[i]);
  }
  return h;
}
