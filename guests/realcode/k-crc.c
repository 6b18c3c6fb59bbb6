/* Checksums as file formats and network stacks compute them: table-driven CRC-32 (zlib's polynomial),
 * CRC-32C with a slicing-by-4 table, Adler-32 with deferred modulo, and FNV-1a; each checked against its
 * published value for "123456789". */
#include "rc.h"

static uint32_t crc_table[256], crc32c_tab[4][256];
static uint8_t data[8192];

static void make_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i, d = i;
    for (int k = 0; k < 8; k++) {
      c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      d = d & 1 ? 0x82F63B78u ^ (d >> 1) : d >> 1;
    }
    crc_table[i] = c;
    crc32c_tab[0][i] = d;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 4; t++) crc32c_tab[t][i] = (crc32c_tab[t - 1][i] >> 8) ^ crc32c_tab[0][crc32c_tab[t - 1][i] & 0xff];
}

static uint32_t crc32(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  while (n && ((uintptr_t)p & 3)) crc = crc32c_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8), n--;
  for (; n >= 4; n -= 4, p += 4) {
    crc ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    crc = crc32c_tab[3][crc & 0xff] ^ crc32c_tab[2][(crc >> 8) & 0xff] ^ crc32c_tab[1][(crc >> 16) & 0xff] ^ crc32c_tab[0][crc >> 24];
  }
  while (n--) crc = crc32c_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static uint32_t adler32(uint32_t adler, const uint8_t *p, size_t n) {
  uint32_t a = adler & 0xffff, b = adler >> 16;
  while (n) {
    size_t k = n < 5552 ? n : 5552; /* the largest run before b can overflow */
    n -= k;
    while (k--) {
      a += *p++;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return b << 16 | a;
}

uint32_t k_crc(uint32_t n) {
  make_tables();
  const uint8_t *check = (const uint8_t *)"123456789";
  if (crc32(0, check, 9) != 0xCBF43926u) rc_fail("crc: CRC-32 of 123456789");
  if (crc32c(0, check, 9) != 0xE3069283u) rc_fail("crc: CRC-32C of 123456789");
  if (adler32(1, check, 9) != 0x091E01DEu) rc_fail("crc: Adler-32 of 123456789");
  if (rc_hash_bytes(0x811c9dc5u, check, 9) != 0xBB86B11Cu) rc_fail("crc: FNV-1a of 123456789");
  uint32_t seed = 0x600dcafeu, h = 0;
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(rc_rand(&seed) >> 24);
  for (uint32_t r = 0; r < n; r++) {
    uint32_t off = r & 7, len = (uint32_t)sizeof data - 8 - (r & 255);
    data[r & 0x1fff] ^= (uint8_t)r;
    h = rc_mix(h, crc32(h, data + off, len));
    h = rc_mix(h, crc32c(h, data + off, len));
    h = rc_mix(h, adler32(1, data + off, len));
    h = rc_mix(h, rc_hash_bytes(0x811c9dc5u, data + off, len / 4));
  }
  return h;
}
