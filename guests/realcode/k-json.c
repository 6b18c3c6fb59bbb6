/* A JSON tokenizer and recursive-descent parser that builds a tree (objects, arrays, strings with escapes,
 * numbers, literals) in an arena, then queries it by key, walks it, and serializes it back; the serialized
 * text must parse and serialize to itself. The input is generated records, like an API response. */
#include "rc.h"

enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };
struct jnode {
  uint8_t type;
  uint32_t count;     /* children of an array or object */
  int32_t num;        /* numbers: value * 1000 (three decimals kept) */
  const char *str;    /* strings: unescaped, NUL-terminated; also the key of an object member */
  const char *key;
  uint32_t len;
  struct jnode *first, *last, *next;
};

static uint8_t arena_buf[1 << 20];
static char text[40960], out1[40960], out2[40960];

/* ---- generator ---- */
struct gen {
  char *p, *end;
  uint32_t seed;
};
static void put(struct gen *g, const char *s) {
  while (*s && g->p < g->end) *g->p++ = *s++;
}
static void put_uint(struct gen *g, uint32_t v) {
  char t[12];
  int k = 0;
  do t[k++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  while (k && g->p < g->end) *g->p++ = t[--k];
}
static const char *const NAMES[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"};
static void gen_string(struct gen *g) {
  uint32_t r = rc_rand(&g->seed);
  put(g, "\"");
  put(g, NAMES[r % 10]);
  if (r & 0x100) put(g, " \\\"quoted\\\"");
  if (r & 0x200) put(g, "\\n\\t");
  if (r & 0x400) put(g, "\\u0041\\u00e9");
  if (r & 0x800) put(g, "/path\\/to");
  put(g, "\"");
}
static void gen_value(struct gen *g, int depth) {
  uint32_t r = rc_rand(&g->seed);
  uint32_t kind = depth > 3 ? r % 5 : r % 7;
  switch (kind) {
  case 0: put(g, (r & 8) ? "true" : "false"); break;
  case 1: put(g, "null"); break;
  case 2:
    if (r & 16) put(g, "-");
    put_uint(g, (r >> 8) % 100000);
    if (r & 32) {
      put(g, ".");
      put_uint(g, 100 + (r >> 20) % 900);
    }
    break;
  case 3: case 4: gen_string(g); break;
  case 5: {
    uint32_t n = r % 6;
    put(g, "[");
    for (uint32_t i = 0; i < n; i++) {
      if (i) put(g, ", ");
      gen_value(g, depth + 1);
    }
    put(g, "]");
    break;
  }
  default: {
    uint32_t n = 1 + r % 5;
    put(g, "{");
    for (uint32_t i = 0; i < n; i++) {
      if (i) put(g, ",");
      put(g, "\"");
      put(g, NAMES[(r >> (4 + i)) % 10]);
      put_uint(g, i);
      put(g, "\": ");
      gen_value(g, depth + 1);
    }
    put(g, "}");
  }
  }
}
static uint32_t generate(uint32_t seed, uint32_t records) {
  struct gen g = {text, text + sizeof text - 1, seed};
  put(&g, "{\"version\": 3, \"records\": [\n");
  for (uint32_t i = 0; i < records && g.end - g.p > 8192; i++) {
    if (i) put(&g, ",\n");
    put(&g, "  {\"id\": ");
    put_uint(&g, i);
    put(&g, ", \"name\": ");
    gen_string(&g);
    put(&g, ", \"score\": ");
    put_uint(&g, rc_rand(&g.seed) % 1000);
    put(&g, ", \"active\": ");
    put(&g, (rc_rand(&g.seed) & 1) ? "true" : "false");
    put(&g, ", \"tags\": [");
    for (uint32_t t = 0, nt = rc_rand(&g.seed) % 4; t < nt; t++) {
      if (t) put(&g, ", ");
      gen_string(&g);
    }
    put(&g, "], \"extra\": ");
    gen_value(&g, 1);
    put(&g, "}");
  }
  put(&g, "\n]}\n");
  *g.p = 0;
  return (uint32_t)(g.p - text);
}

/* ---- tokenizer and parser ---- */
enum { T_EOF, T_LBRACE, T_RBRACE, T_LBRACK, T_RBRACK, T_COLON, T_COMMA, T_STR, T_NUM, T_TRUE, T_FALSE, T_NULL, T_ERR };
struct parser {
  const char *p;
  struct rc_arena *arena;
  int tok;
  const char *str; /* T_STR: unescaped text in the arena */
  uint32_t len;
  int32_t num;
  int error;
};

static void next(struct parser *ps) {
  const char *p = ps->p;
  while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
  char c = *p;
  if (!c) { ps->tok = T_EOF; ps->p = p; return; }
  p++;
  switch (c) {
  case '{': ps->tok = T_LBRACE; break;
  case '}': ps->tok = T_RBRACE; break;
  case '[': ps->tok = T_LBRACK; break;
  case ']': ps->tok = T_RBRACK; break;
  case ':': ps->tok = T_COLON; break;
  case ',': ps->tok = T_COMMA; break;
  case '"': {
    const char *q = p;
    uint32_t n = 0;
    while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1, n++;
    char *s = rc_alloc(ps->arena, n * 2 + 1), *o = s;
    while (*p && *p != '"') {
      if (*p != '\\') { *o++ = *p++; continue; }
      p++;
      char e = *p++;
      switch (e) {
      case 'n': *o++ = '\n'; break;
      case 't': *o++ = '\t'; break;
      case 'r': *o++ = '\r'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'u': {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++, p++) {
          char h = *p;
          v = v * 16 + (uint32_t)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
        }
        if (v < 0x80) *o++ = (char)v;
        else { *o++ = (char)(0xc0 | v >> 6); *o++ = (char)(0x80 | (v & 63)); } /* two-byte UTF-8 is enough here */
        break;
      }
      default: *o++ = e;
      }
    }
    *o = 0;
    if (*p != '"') { ps->tok = T_ERR; break; }
    p++;
    ps->tok = T_STR;
    ps->str = s;
    ps->len = (uint32_t)(o - s);
    break;
  }
  case 't': case 'f': case 'n': {
    const char *word = c == 't' ? "rue" : c == 'f' ? "alse" : "ull";
    size_t wl = rc_strlen(word);
    if (rc_strncmp(p, word, wl)) { ps->tok = T_ERR; break; }
    p += wl;
    ps->tok = c == 't' ? T_TRUE : c == 'f' ? T_FALSE : T_NULL;
    break;
  }
  default:
    if (c == '-' || (c >= '0' && c <= '9')) {
      int neg = c == '-';
      uint32_t v = neg ? 0 : (uint32_t)(c - '0'), frac = 0, scale = 1000;
      while (*p >= '0' && *p <= '9') v = v * 10 + (uint32_t)(*p++ - '0');
      if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
          if (scale > 1) scale /= 10, frac += (uint32_t)(*p - '0') * scale;
          p++;
        }
      }
      uint32_t m = v * 1000 + frac;
      ps->num = (int32_t)(neg ? 0u - m : m);
      ps->tok = T_NUM;
    } else {
      ps->tok = T_ERR;
    }
  }
  ps->p = p;
}

static struct jnode *node(struct parser *ps, uint8_t type) {
  struct jnode *n = rc_alloc(ps->arena, sizeof *n);
  rc_memset(n, 0, sizeof *n);
  n->type = type;
  return n;
}
static void append(struct jnode *parent, struct jnode *child) {
  if (parent->last) parent->last->next = child;
  else parent->first = child;
  parent->last = child;
  parent->count++;
}

static struct jnode *parse_value(struct parser *ps, int depth) {
  if (depth > 64) { ps->error = 1; return NULL; }
  struct jnode *n;
  switch (ps->tok) {
  case T_NULL: n = node(ps, J_NULL); next(ps); return n;
  case T_TRUE: n = node(ps, J_TRUE); next(ps); return n;
  case T_FALSE: n = node(ps, J_FALSE); next(ps); return n;
  case T_NUM: n = node(ps, J_NUM); n->num = ps->num; next(ps); return n;
  case T_STR: n = node(ps, J_STR); n->str = ps->str; n->len = ps->len; next(ps); return n;
  case T_LBRACK:
    n = node(ps, J_ARR);
    next(ps);
    if (ps->tok == T_RBRACK) { next(ps); return n; }
    for (;;) {
      struct jnode *c = parse_value(ps, depth + 1);
      if (!c) return NULL;
      append(n, c);
      if (ps->tok == T_COMMA) { next(ps); continue; }
      if (ps->tok == T_RBRACK) { next(ps); return n; }
      ps->error = 1;
      return NULL;
    }
  case T_LBRACE:
    n = node(ps, J_OBJ);
    next(ps);
    if (ps->tok == T_RBRACE) { next(ps); return n; }
    for (;;) {
      if (ps->tok != T_STR) { ps->error = 1; return NULL; }
      const char *key = ps->str;
      next(ps);
      if (ps->tok != T_COLON) { ps->error = 1; return NULL; }
      next(ps);
      struct jnode *c = parse_value(ps, depth + 1);
      if (!c) return NULL;
      c->key = key;
      append(n, c);
      if (ps->tok == T_COMMA) { next(ps); continue; }
      if (ps->tok == T_RBRACE) { next(ps); return n; }
      ps->error = 1;
      return NULL;
    }
  default:
    ps->error = 1;
    return NULL;
  }
}

static struct jnode *parse(const char *s, struct rc_arena *a) {
  struct parser ps = {s, a, T_EOF, NULL, 0, 0, 0};
  next(&ps);
  struct jnode *root = parse_value(&ps, 0);
  if (ps.error || ps.tok != T_EOF) return NULL;
  return root;
}

static const struct jnode *get(const struct jnode *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (const struct jnode *c = obj->first; c; c = c->next)
    if (!rc_strcmp(c->key, key)) return c;
  return NULL;
}

/* ---- serializer ---- */
struct out {
  char *p, *end;
};
static void emit(struct out *o, char c) {
  if (o->p < o->end) *o->p++ = c;
}
static void emit_str(struct out *o, const char *s) {
  emit(o, '"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') emit(o, '\\'), emit(o, (char)c);
    else if (c == '\n') emit(o, '\\'), emit(o, 'n');
    else if (c == '\t') emit(o, '\\'), emit(o, 't');
    else if (c < 0x20 || c >= 0x80) {
      /* re-escape control bytes and our two-byte UTF-8 */
      uint32_t v = c;
      if (c >= 0xc0 && (unsigned char)s[1] >= 0x80) v = (uint32_t)(c & 0x1f) << 6 | ((unsigned char)*++s & 63);
      const char *hex = "0123456789abcdef";
      emit(o, '\\'), emit(o, 'u');
      for (int i = 12; i >= 0; i -= 4) emit(o, hex[(v >> i) & 15]);
    } else emit(o, (char)c);
  }
  emit(o, '"');
}
static void serialize(struct out *o, const struct jnode *n) {
  switch (n->type) {
  case J_NULL: for (const char *s = "null"; *s; s++) emit(o, *s); break;
  case J_TRUE: for (const char *s = "true"; *s; s++) emit(o, *s); break;
  case J_FALSE: for (const char *s = "false"; *s; s++) emit(o, *s); break;
  case J_NUM: {
    uint32_t v = (uint32_t)n->num;
    if (n->num < 0) emit(o, '-'), v = 0u - v;
    char t[12];
    int k = 0;
    uint32_t ip = v / 1000, fp = v % 1000;
    do t[k++] = (char)('0' + ip % 10); while ((ip /= 10) != 0);
    while (k) emit(o, t[--k]);
    if (fp) {
      emit(o, '.');
      emit(o, (char)('0' + fp / 100)), emit(o, (char)('0' + fp / 10 % 10)), emit(o, (char)('0' + fp % 10));
    }
    break;
  }
  case J_STR: emit_str(o, n->str); break;
  case J_ARR:
  case J_OBJ:
    emit(o, n->type == J_ARR ? '[' : '{');
    for (const struct jnode *c = n->first; c; c = c->next) {
      if (c != n->first) emit(o, ',');
      if (n->type == J_OBJ) emit_str(o, c->key), emit(o, ':');
      serialize(o, c);
    }
    emit(o, n->type == J_ARR ? ']' : '}');
  }
}

static uint32_t walk(const struct jnode *n, uint32_t h, uint32_t depth) {
  h = rc_mix(h, n->type + depth * 8);
  if (n->key) h = rc_hash_bytes(h, n->key, rc_strlen(n->key));
  if (n->type == J_NUM) h = rc_mix(h, (uint32_t)n->num);
  if (n->type == J_STR) h = rc_hash_bytes(h, n->str, n->len);
  for (const struct jnode *c = n->first; c; c = c->next) h = walk(c, h, depth + 1);
  return h;
}

uint32_t k_json(uint32_t n) {
  uint32_t h = 0;
  struct rc_arena a = {arena_buf, sizeof arena_buf, 0};
  for (uint32_t r = 0; r < n; r++) {
    a.used = 0;
    uint32_t len = generate(0x15u + r, 40 + (r & 15));
    struct jnode *root = parse(text, &a);
    if (!root) {
      rc_fail("json: the generated text did not parse");
      return 0;
    }
    h = rc_mix(h, len);
    h = walk(root, h, 0);
    const struct jnode *recs = get(root, "records");
    uint32_t active = 0, score = 0;
    for (const struct jnode *c = recs ? recs->first : NULL; c; c = c->next) {
      const struct jnode *act = get(c, "active"), *sc = get(c, "score"), *tags = get(c, "tags");
      if (act && act->type == J_TRUE) active++;
      if (sc && sc->type == J_NUM) score += (uint32_t)sc->num;
      if (tags) score += tags->count;
    }
    h = rc_mix(h, active);
    h = rc_mix(h, score);
    struct out o1 = {out1, out1 + sizeof out1 - 1};
    serialize(&o1, root);
    *o1.p = 0;
    struct jnode *again = parse(out1, &a);
    if (!again) {
      rc_fail("json: the serialized text did not parse");
      return 0;
    }
    struct out o2 = {out2, out2 + sizeof out2 - 1};
    serialize(&o2, again);
    *o2.p = 0;
    if (rc_strcmp(out1, out2)) rc_fail("json: serialize(parse(serialize(x))) differs");
    h = rc_hash_bytes(h, out1, (size_t)(o1.p - out1));
  }
  return h;
}
