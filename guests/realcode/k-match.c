/* Pattern matching as shells and tools do it: fnmatch-style globs (*, ?, [a-z], [!x]) with the usual
 * single-backtrack-point algorithm, and a small backtracking regular-expression matcher (^ $ . * + ?
 * \c and [classes]) run over generated path names and text lines. */
#include "rc.h"

static int class_match(const char **pp, char c) {
  const char *p = *pp; /* just after '[' */
  int neg = *p == '!' || *p == '^', ok = 0;
  if (neg) p++;
  int first = 1;
  while (*p && (*p != ']' || first)) {
    first = 0;
    char lo = *p, hi = lo;
    if (p[1] == '-' && p[2] && p[2] != ']') hi = p[2], p += 2;
    if (c >= lo && c <= hi) ok = 1;
    p++;
  }
  if (*p == ']') p++;
  *pp = p;
  return ok != neg;
}

static int glob(const char *pat, const char *s) {
  const char *star_p = NULL, *star_s = NULL;
  while (*s) {
    if (*pat == '*') {
      star_p = ++pat;
      star_s = s;
      continue;
    }
    if (*pat == '?' && *s != '/') {
      pat++, s++;
      continue;
    }
    if (*pat == '[') {
      const char *q = pat + 1;
      if (class_match(&q, *s)) {
        pat = q, s++;
        continue;
      }
    } else if (*pat && *pat == *s) {
      pat++, s++;
      continue;
    }
    if (!star_p || *star_s == '/') return 0; /* '*' does not cross a slash */
    pat = star_p;
    s = ++star_s;
  }
  while (*pat == '*') pat++;
  return !*pat;
}

/* ---- regex: an element is a char, an escaped \c, '.', or a [class]; followed optionally by * + ? ---- */
static const char *elem_end(const char *re) {
  if (*re == '\\' && re[1]) return re + 2;
  if (*re == '[') {
    re++;
    if (*re == '^') re++;
    if (*re == ']') re++;
    while (*re && *re != ']') re++;
    return *re ? re + 1 : re;
  }
  return re + 1;
}
static int elem_match(const char *re, char c) {
  if (!c) return 0;
  if (*re == '\\' && re[1]) return re[1] == c;
  if (*re == '.') return 1;
  if (*re == '[') {
    const char *q = re + 1;
    return class_match(&q, c);
  }
  return *re == c;
}
static int match_here(const char *re, const char *s) {
  for (;;) {
    if (!*re) return 1;
    if (re[0] == '$' && !re[1]) return !*s;
    const char *e = elem_end(re);
    if (*e == '*' || *e == '+' || *e == '?') {
      /* greedy: count how far the element matches, then back off */
      const char *t = s;
      size_t max = *e == '?' ? 1 : (size_t)-1, k = 0;
      while (k < max && elem_match(re, *t)) t++, k++;
      size_t min = *e == '+' ? 1 : 0;
      for (;; t--, k--) {
        if (k >= min && match_here(e + 1, t)) return 1;
        if (k == 0) return 0;
      }
    }
    if (!elem_match(re, *s)) return 0;
    re = e;
    s++;
  }
}
static int regex(const char *re, const char *s) {
  if (*re == '^') return match_here(re + 1, s);
  do
    if (match_here(re, s)) return 1;
  while (*s++);
  return 0;
}

static const char *const DIRS[] = {"src", "lib", "include", "tests", "doc", "build/obj", "vendor/x86"};
static const char *const STEMS[] = {"main", "cpu", "decode", "alu_ops", "page_table", "irq", "serial", "test_ld", "io"};
static const char *const EXTS[] = {".c", ".h", ".o", ".S", ".txt", ".md", ".json", ".ts"};
static const char *const GLOBS[] = {"*.c", "src/*.[ch]", "*/*_*.?", "??b/*", "*test*", "[a-m]*/[!a-d]*.[cS]", "vendor/*/*.*", "*.json", "build/*/*.o", "*/i*"};
static const char *const REGEXES[] = {"^src/.*\\.c$", "[0-9]+\\.", "_[a-z]+", "^x?s", "t[aeiou]+b", "\\.[ch]$", "o.*o.*o", "^[a-z]+/[a-z_]+[0-9]?\\.[a-z]+$", "e?s?t", "q+"};
#define N(a) (sizeof a / sizeof a[0])

uint32_t k_match(uint32_t n) {
  static char path[96];
  /* known answers */
  if (!glob("*.c", "main.c") || glob("*.c", "src/main.c") || !glob("src/[a-c]??.h", "src/cpu.h") || glob("[!a-z]*", "abc"))
    rc_fail("match: glob known answers");
  if (!regex("^a.*b$", "axxb") || regex("^a.*b$", "axxbc") || !regex("x+y?z", "wxxxz") || regex("[0-9]+", "abc"))
    rc_fail("match: regex known answers");
  uint32_t seed = 0x9106u, h = 0;
  for (uint32_t r = 0; r < n; r++) {
    for (uint32_t i = 0; i < 32; i++) {
      uint32_t x = rc_rand(&seed);
      char *p = rc_strcpy(path, DIRS[x % N(DIRS)]);
      p += rc_strlen(p);
      *p++ = '/';
      rc_strcpy(p, STEMS[(x >> 8) % N(STEMS)]);
      p += rc_strlen(p);
      if (x & 0x10000) *p++ = (char)('0' + (x >> 20) % 10);
      rc_strcpy(p, EXTS[(x >> 24) % N(EXTS)]);
      uint32_t bits = 0;
      for (uint32_t g = 0; g < N(GLOBS); g++) bits = bits << 1 | (uint32_t)glob(GLOBS[g], path);
      for (uint32_t g = 0; g < N(REGEXES); g++) bits = bits << 1 | (uint32_t)regex(REGEXES[g], path);
      h = rc_mix(h, bits);
    }
  }
  return h;
}
