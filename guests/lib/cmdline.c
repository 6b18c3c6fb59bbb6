/* Multiboot command line helpers. QEMU passes "<kernel path> <-append text>", so keys are searched as words. */
#include "rt.h"

const char *mb_cmdline(uint32_t magic, uint32_t info_addr) {
  if (magic != MULTIBOOT_BOOTLOADER_MAGIC || !info_addr) return "";
  const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)info_addr;
  if (!(mbi->flags & MB_INFO_CMDLINE) || !mbi->cmdline) return "";
  return (const char *)(uintptr_t)mbi->cmdline;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

int cmdline_get(const char *cl, const char *key, char *out, size_t outlen) {
  size_t kl = strlen(key);
  const char *p = cl;
  while (*p) {
    while (is_space(*p)) p++;
    if (!strncmp(p, key, kl) && p[kl] == '=') {
      p += kl + 1;
      size_t i = 0;
      while (*p && !is_space(*p)) {
        if (i + 1 < outlen) out[i++] = *p;
        p++;
      }
      if (outlen) out[i] = 0;
      return 1;
    }
    while (*p && !is_space(*p)) p++;
  }
  return 0;
}

int cmdline_has_word(const char *cl, const char *word) {
  size_t wl = strlen(word);
  const char *p = cl;
  while (*p) {
    while (is_space(*p)) p++;
    if (!strncmp(p, word, wl) && (p[wl] == 0 || is_space(p[wl]))) return 1;
    while (*p && !is_space(*p)) p++;
  }
  return 0;
}

uint32_t cmdline_get_u32(const char *cl, const char *key, uint32_t def) {
  char buf[24];
  if (!cmdline_get(cl, key, buf, sizeof buf) || !buf[0]) return def;
  uint32_t v = 0;
  const char *p = buf;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    p += 2;
    if (!*p) return def;
    for (; *p; p++) {
      int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
      if (d < 0) return def;
      v = v * 16 + (uint32_t)d;
    }
  } else {
    for (; *p; p++) {
      if (*p < '0' || *p > '9') return def;
      v = v * 10 + (uint32_t)(*p - '0');
    }
  }
  return v;
}
