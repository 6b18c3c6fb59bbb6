/* CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320), bitwise: a branchy integer workload and a checksum. */
#ifndef GUEST_CRC32_H
#define GUEST_CRC32_H
#include <stdint.h>
#include <stddef.h>
static inline uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
  const uint8_t *p = data;
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}
#endif
