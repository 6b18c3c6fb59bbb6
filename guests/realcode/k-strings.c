/* String handling as C programs do it: split text into lines with memchr, measure them with strlen (byte
 * and word-at-a-time), find characters with strchr, substrings with strstr, compare words against a keyword
 * list with strcmp/strncmp, copy with strcpy, change case, and parse the numbers with an atoi loop. */
#include "rc.h"

#define TEXT 4096
static char text[TEXT + 1];
static char line[256], copy[256];

static const char *const KEYWORDS[] = {"memory", "kernel", "interrupt", "the", "which", "pointer", "cache", "would", "zebra"};
#define NKEY (sizeof KEYWORDS / sizeof KEYWORDS[0])

static uint32_t parse_uint(const char *s, const char **end) {
  uint32_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (uint32_t)(*s++ - '0');
  *end = s;
  return v;
}

static uint32_t scan_line(char *l, uint32_t h) {
  size_t len = rc_strlen(l);
  if (len != rc_strlen_words(l)) rc_fail("strings: strlen variants differ");
  h = rc_mix(h, (uint32_t)len);
  /* words: strchr for the next space, strncmp/strcmp against keywords */
  char *w = l;
  while (*w) {
    char *sp = rc_strchr(w, ' ');
    size_t wl = sp ? (size_t)(sp - w) : rc_strlen(w);
    if (wl && wl < 32) {
      char word[32];
      rc_memcpy(word, w, wl);
      word[wl] = 0;
      char *dot = rc_strchr(word, '.');
      if (dot) *dot = 0;
      char *comma = rc_strchr(word, ',');
      if (comma) *comma = 0;
      for (uint32_t k = 0; k < NKEY; k++) {
        if (!rc_strcmp(word, KEYWORDS[k])) h = rc_mix(h, k);
        else if (!rc_strncmp(word, KEYWORDS[k], 3)) h += k;
      }
      if (word[0] >= '0' && word[0] <= '9') {
        const char *e;
        h = rc_mix(h, parse_uint(word, &e));
      }
    }
    if (!sp) break;
    w = sp + 1;
  }
  /* substrings */
  const char *needles[] = {"the ", "tion", "er ", "memory", "qq"};
  for (uint32_t k = 0; k < 5; k++) {
    uint32_t c = 0;
    for (const char *p = l; (p = rc_strstr(p, needles[k])) != NULL; p++) c++;
    h += c << k;
  }
  /* copy and case change */
  rc_strcpy(copy, l);
  for (char *p = copy; *p; p++)
    if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
  for (char *p = copy; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
  if (rc_strcmp(copy, l) < 0) h ^= 1; /* capitals sort before lower case */
  return h;
}

uint32_t k_strings(uint32_t n) {
  uint32_t h = 0;
  for (uint32_t r = 0; r < n; r++) {
    uint32_t len = TEXT - (r & 7) * 256;
    rc_gen_text(text, len, 0x77u + r);
    text[len] = 0;
    uint32_t lines = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
      const char *nl = rc_memchr(p, '\n', (size_t)(end - p));
      size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
      if (ll >= sizeof line) ll = sizeof line - 1;
      rc_memcpy(line, p, ll);
      line[ll] = 0;
      h = scan_line(line, h);
      lines++;
      if (!nl) break;
      p = nl + 1;
    }
    h = rc_mix(h, lines);
  }
  return h;
}
