/* printf-like formatting. 64-bit values are divided with udiv64 (shift-subtract), so 32-bit builds need no libgcc. */
#include "rt.h"

uint64_t udiv64(uint64_t n, uint64_t d, uint64_t *rem) {
  if (d == 0) { if (rem) *rem = 0; return 0; }
#if defined(__x86_64__)
  if (rem) *rem = n % d;
  return n / d;
#else
  if ((n >> 32) == 0 && (d >> 32) == 0) {
    uint32_t q = (uint32_t)n / (uint32_t)d;
    if (rem) *rem = (uint32_t)n % (uint32_t)d;
    return q;
  }
  uint64_t q = 0, r = 0;
  for (int i = 63; i >= 0; i--) {
    r = (r << 1) | ((n >> i) & 1);
    if (r >= d) { r -= d; q |= (uint64_t)1 << i; }
  }
  if (rem) *rem = r;
  return q;
#endif
}

struct sink { char *buf; size_t cap, len; };

static void emit(struct sink *s, char c) {
  if (s->buf) {
    if (s->len + 1 < s->cap) s->buf[s->len] = c;
  } else {
    serial_putc(c);
  }
  s->len++;
}

static void emit_num(struct sink *s, uint64_t v, unsigned base, int upper, int neg, int width, int zero, int left, int plus) {
  char tmp[24];
  int n = 0;
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    uint64_t r;
    if (base == 16) { r = v & 15; v >>= 4; }
    else v = udiv64(v, base, &r);
    tmp[n++] = digits[r];
  } while (v);
  int len = n + ((neg || plus) ? 1 : 0);
  if (!left && !zero) for (; width > len; width--) emit(s, ' ');
  if (neg) emit(s, '-');
  else if (plus) emit(s, '+');
  if (!left && zero) for (; width > len; width--) emit(s, '0');
  while (n) emit(s, tmp[--n]);
  if (left) for (; width > len; width--) emit(s, ' ');
}

static int format(struct sink *s, const char *fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') { emit(s, *fmt); continue; }
    fmt++;
    int zero = 0, left = 0, plus = 0, width = 0, lng = 0;
    for (;; fmt++) {
      if (*fmt == '0') zero = 1;
      else if (*fmt == '-') left = 1;
      else if (*fmt == '+') plus = 1;
      else break;
    }
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l' || *fmt == 'z') { lng += (*fmt == 'z') ? (sizeof(size_t) == 8 ? 2 : 1) : 1; fmt++; }
    switch (*fmt) {
    case 'c': emit(s, (char)va_arg(ap, int)); break;
    case 's': {
      const char *str = va_arg(ap, const char *);
      if (!str) str = "(null)";
      int len = (int)strlen(str);
      if (!left) for (; width > len; width--) emit(s, ' ');
      while (*str) emit(s, *str++);
      if (left) for (; width > len; width--) emit(s, ' ');
      break;
    }
    case 'd': case 'i': {
      int64_t v = lng >= 2 ? va_arg(ap, long long) : lng == 1 ? va_arg(ap, long) : va_arg(ap, int);
      emit_num(s, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, 10, 0, v < 0, width, zero, left, plus);
      break;
    }
    case 'u': case 'x': case 'X': {
      uint64_t v = lng >= 2 ? va_arg(ap, unsigned long long) : lng == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
      emit_num(s, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', 0, width, zero, left, 0);
      break;
    }
    case 'p':
      emit(s, '0'); emit(s, 'x');
      emit_num(s, (uintptr_t)va_arg(ap, void *), 16, 0, 0, sizeof(void *) * 2, 1, 0, 0);
      break;
    case '%': emit(s, '%'); break;
    case 0: return (int)s->len;
    default: emit(s, '%'); emit(s, *fmt); break;
    }
  }
  return (int)s->len;
}

int kvprintf(const char *fmt, va_list ap) {
  struct sink s = {0, 0, 0};
  return format(&s, fmt, ap);
}

int kprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = kvprintf(fmt, ap);
  va_end(ap);
  return n;
}

int ksnprintf(char *buf, size_t n, const char *fmt, ...) {
  struct sink s = {buf, n, 0};
  va_list ap;
  va_start(ap, fmt);
  format(&s, fmt, ap);
  va_end(ap);
  if (n) buf[s.len < n ? s.len : n - 1] = 0;
  return (int)s.len;
}
