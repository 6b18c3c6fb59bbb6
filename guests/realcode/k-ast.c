/* A tree-walking interpreter: a lexer and recursive-descent parser for a small C-like language (functions,
 * locals resolved to slots, if/while/return, precedence climbing, a global array) building an AST in an
 * arena, and a recursive evaluator over it, the shape of script-language interpreters. */
#include "rc.h"

static const char SOURCE[] =
    "fn fib(n) { if (n < 2) { return n; } return fib(n - 1) + fib(n - 2); }\n"
    "fn gcd(a, b) { while (b != 0) { t = a % b; a = b; b = t; } return a; }\n"
    "fn sieve(n) { i = 2; c = 0; while (i < n) { m[i] = 1; i = i + 1; } i = 2;\n"
    "  while (i < n) { if (m[i]) { c = c + 1; j = i * i; while (j < n) { m[j] = 0; j = j + i; } } i = i + 1; }\n"
    "  return c; }\n"
    "fn sort(n) { i = 0; while (i < n) { m[i] = (i * 7919 + 13) % 1009; i = i + 1; }\n"
    "  i = 1; while (i < n) { v = m[i]; j = i - 1;\n"
    "    while (j >= 0 && m[j] > v) { m[j + 1] = m[j]; j = j - 1; } m[j + 1] = v; i = i + 1; }\n"
    "  s = 0; i = 0; while (i < n) { s = s * 31 + m[i]; i = i + 1; } return s; }\n"
    "fn main(k) { s = 0; i = 0;\n"
    "  while (i < k) { s = s + gcd(i * 7919 + 1, 1000 + i) + (i & 15); i = i + 1; }\n"
    "  if (!(k < 0) || k == -1) { s = s ^ fib(12 + k % 5); } else { s = 0; }\n"
    "  return s ^ sieve(500 + k) ^ (sort(30 + k % 20) << 1); }\n";

enum { N_NUM, N_LOCAL, N_INDEX, N_CALL, N_BIN, N_NEG, N_NOT, N_AND, N_OR, N_ASSIGN, N_STORE, N_IF, N_WHILE, N_RETURN, N_EXPR, N_BLOCK };
enum { T_EOF, T_NUM, T_IDENT, T_FN, T_IF, T_ELSE, T_WHILE, T_RETURN, T_OP, T_ERR };

struct anode {
  uint8_t kind;
  char op[3];
  uint32_t value; /* number, local slot, or function index */
  struct anode *a, *b, *c, *next;
};

#define MAX_FUNCS 16
#define MAX_LOCALS 16
#define MEM 4096
struct func {
  char name[16];
  uint32_t nparams, nlocals;
  char locals[MAX_LOCALS][16];
  struct anode *body;
};

struct parser {
  const char *p;
  int tok;
  char text[16];
  uint32_t num;
  struct rc_arena *arena;
  struct func funcs[MAX_FUNCS];
  uint32_t nfuncs;
  struct func *cur;
  int error;
};

static uint8_t arena_buf[1 << 17];
static uint32_t mem[MEM];

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void next(struct parser *ps) {
  const char *p = ps->p;
  while (*p == ' ' || *p == '\n' || *p == '\t') p++;
  ps->text[0] = 0;
  if (!*p) {
    ps->tok = T_EOF;
  } else if (is_digit(*p)) {
    uint32_t v = 0;
    while (is_digit(*p)) v = v * 10 + (uint32_t)(*p++ - '0');
    ps->num = v;
    ps->tok = T_NUM;
  } else if (is_alpha(*p)) {
    uint32_t n = 0;
    while (is_alpha(*p) || is_digit(*p)) {
      if (n < sizeof ps->text - 1) ps->text[n++] = *p;
      p++;
    }
    ps->text[n] = 0;
    static const char *const KW[] = {"fn", "if", "else", "while", "return"};
    static const int KT[] = {T_FN, T_IF, T_ELSE, T_WHILE, T_RETURN};
    ps->tok = T_IDENT;
    for (int i = 0; i < 5; i++)
      if (!rc_strcmp(ps->text, KW[i])) ps->tok = KT[i];
  } else {
    static const char *const TWO[] = {"==", "!=", "<=", ">=", "&&", "||", "<<", ">>"};
    ps->tok = T_OP;
    ps->text[0] = *p;
    ps->text[1] = 0;
    for (int i = 0; i < 8; i++)
      if (p[0] == TWO[i][0] && p[1] == TWO[i][1]) {
        ps->text[1] = p[1];
        ps->text[2] = 0;
        p++;
        break;
      }
    p++;
  }
  ps->p = p;
}

static int is_op(struct parser *ps, const char *op) { return ps->tok == T_OP && !rc_strcmp(ps->text, op); }
static void expect(struct parser *ps, const char *op) {
  if (!is_op(ps, op)) ps->error = 1;
  next(ps);
}
static struct anode *mk(struct parser *ps, uint8_t kind) {
  struct anode *n = rc_alloc(ps->arena, sizeof *n);
  rc_memset(n, 0, sizeof *n);
  n->kind = kind;
  return n;
}
static uint32_t local_slot(struct parser *ps, const char *name) {
  struct func *f = ps->cur;
  for (uint32_t i = 0; i < f->nlocals; i++)
    if (!rc_strcmp(f->locals[i], name)) return i;
  if (f->nlocals == MAX_LOCALS) {
    ps->error = 1;
    return 0;
  }
  rc_strcpy(f->locals[f->nlocals], name);
  return f->nlocals++;
}
static uint32_t func_index(struct parser *ps, const char *name) {
  for (uint32_t i = 0; i < ps->nfuncs; i++)
    if (!rc_strcmp(ps->funcs[i].name, name)) return i;
  ps->error = 1;
  return 0;
}

static struct anode *expr(struct parser *ps, int min_prec);

static struct anode *primary(struct parser *ps) {
  struct anode *n;
  if (ps->tok == T_NUM) {
    n = mk(ps, N_NUM);
    n->value = ps->num;
    next(ps);
    return n;
  }
  if (is_op(ps, "(")) {
    next(ps);
    n = expr(ps, 0);
    expect(ps, ")");
    return n;
  }
  if (is_op(ps, "-") || is_op(ps, "!")) {
    n = mk(ps, is_op(ps, "-") ? N_NEG : N_NOT);
    next(ps);
    n->a = primary(ps);
    return n;
  }
  if (ps->tok != T_IDENT) {
    ps->error = 1;
    return mk(ps, N_NUM);
  }
  char name[16];
  rc_strcpy(name, ps->text);
  next(ps);
  if (is_op(ps, "(")) {
    n = mk(ps, N_CALL);
    n->value = func_index(ps, name);
    next(ps);
    struct anode **tail = &n->a;
    while (!is_op(ps, ")") && !ps->error && ps->tok != T_EOF) {
      *tail = expr(ps, 0);
      tail = &(*tail)->next;
      if (is_op(ps, ",")) next(ps);
    }
    expect(ps, ")");
    return n;
  }
  if (is_op(ps, "[")) {
    n = mk(ps, N_INDEX);
    next(ps);
    n->a = expr(ps, 0);
    expect(ps, "]");
    return n;
  }
  n = mk(ps, N_LOCAL);
  n->value = local_slot(ps, name);
  return n;
}

static int prec(struct parser *ps) {
  static const char *const OPS[] = {"||", "&&", "|", "^", "&", "==", "!=", "<", "<=", ">", ">=", "<<", ">>", "+", "-", "*", "/", "%"};
  static const int P[] = {1, 2, 3, 4, 5, 6, 6, 7, 7, 7, 7, 8, 8, 9, 9, 10, 10, 10};
  if (ps->tok != T_OP) return -1;
  for (int i = 0; i < 18; i++)
    if (!rc_strcmp(ps->text, OPS[i])) return P[i];
  return -1;
}

static struct anode *expr(struct parser *ps, int min_prec) {
  struct anode *lhs = primary(ps);
  for (;;) {
    int p = prec(ps);
    if (p < 0 || p < min_prec || ps->error) return lhs;
    char op[3];
    rc_strcpy(op, ps->text);
    next(ps);
    struct anode *rhs = expr(ps, p + 1);
    struct anode *n = mk(ps, op[0] == '&' && op[1] == '&' ? N_AND : op[0] == '|' && op[1] == '|' ? N_OR : N_BIN);
    rc_strcpy(n->op, op);
    n->a = lhs;
    n->b = rhs;
    lhs = n;
  }
}

static struct anode *block(struct parser *ps);

static struct anode *statement(struct parser *ps) {
  struct anode *n;
  if (ps->tok == T_IF || ps->tok == T_WHILE) {
    n = mk(ps, ps->tok == T_IF ? N_IF : N_WHILE);
    next(ps);
    expect(ps, "(");
    n->a = expr(ps, 0);
    expect(ps, ")");
    n->b = block(ps);
    if (n->kind == N_IF && ps->tok == T_ELSE) {
      next(ps);
      n->c = block(ps);
    }
    return n;
  }
  if (ps->tok == T_RETURN) {
    n = mk(ps, N_RETURN);
    next(ps);
    n->a = expr(ps, 0);
    expect(ps, ";");
    return n;
  }
  struct anode *e = expr(ps, 0);
  if (is_op(ps, "=")) {
    next(ps);
    if (e->kind == N_LOCAL) n = mk(ps, N_ASSIGN), n->value = e->value, n->a = expr(ps, 0);
    else if (e->kind == N_INDEX) n = mk(ps, N_STORE), n->a = e->a, n->b = expr(ps, 0);
    else ps->error = 1, n = e;
  } else {
    n = mk(ps, N_EXPR);
    n->a = e;
  }
  expect(ps, ";");
  return n;
}

static struct anode *block(struct parser *ps) {
  struct anode *n = mk(ps, N_BLOCK), **tail = &n->a;
  expect(ps, "{");
  while (!is_op(ps, "}") && ps->tok != T_EOF && !ps->error) {
    *tail = statement(ps);
    tail = &(*tail)->next;
  }
  expect(ps, "}");
  return n;
}

static int parse_program(struct parser *ps) {
  /* two passes: first the function names (calls may refer forwards), then the bodies */
  for (int pass = 0; pass < 2; pass++) {
    ps->p = SOURCE;
    next(ps);
    uint32_t fi = 0;
    while (ps->tok == T_FN && !ps->error) {
      next(ps);
      if (ps->tok != T_IDENT || fi == MAX_FUNCS) return 0;
      struct func *f = &ps->funcs[fi++];
      if (pass == 0) rc_strcpy(f->name, ps->text), ps->nfuncs = fi;
      f->nlocals = f->nparams = 0;
      ps->cur = f;
      next(ps);
      expect(ps, "(");
      while (ps->tok == T_IDENT) {
        local_slot(ps, ps->text);
        f->nparams++;
        next(ps);
        if (is_op(ps, ",")) next(ps);
      }
      expect(ps, ")");
      if (pass == 0) {
        int depth = 0; /* skip the body */
        do {
          if (is_op(ps, "{")) depth++;
          if (is_op(ps, "}")) depth--;
          next(ps);
        } while (depth > 0 && ps->tok != T_EOF);
      } else {
        f->body = block(ps);
      }
    }
    if (ps->tok != T_EOF || ps->error) return 0;
  }
  return 1;
}

/* ---- evaluator ---- */
struct frame {
  uint32_t v[MAX_LOCALS];
  uint32_t ret;
};
static struct func *funcs;
static uint32_t calls;

static uint32_t eval(const struct anode *n, struct frame *fr);
static int exec(const struct anode *n, struct frame *fr); /* 1 = returned */

static uint32_t call(uint32_t fi, const struct anode *args, struct frame *caller) {
  struct frame fr;
  const struct func *f = &funcs[fi];
  uint32_t i = 0;
  for (; args; args = args->next, i++) {
    uint32_t v = eval(args, caller);
    if (i < MAX_LOCALS) fr.v[i] = v;
  }
  for (; i < f->nlocals; i++) fr.v[i] = 0;
  fr.ret = 0;
  calls++;
  exec(f->body, &fr);
  return fr.ret;
}

static uint32_t binop(const char *op, uint32_t a, uint32_t b) {
  switch (op[0]) {
  case '+': return a + b;
  case '-': return a - b;
  case '*': return a * b;
  /* signed division; x / 0 is 0 here, and -1 is special-cased so INT_MIN / -1 cannot trap */
  case '/': return b == 0 ? 0 : b == 0xffffffffu ? 0u - a : (uint32_t)((int32_t)a / (int32_t)b);
  case '%': return b == 0 || b == 0xffffffffu ? 0 : (uint32_t)((int32_t)a % (int32_t)b);
  case '^': return a ^ b;
  case '&': return a & b;
  case '|': return a | b;
  case '=': return a == b;
  case '!': return a != b;
  case '<':
    if (op[1] == '<') return a << (b & 31);
    return op[1] == '=' ? (int32_t)a <= (int32_t)b : (int32_t)a < (int32_t)b;
  case '>':
    if (op[1] == '>') return a >> (b & 31);
    return op[1] == '=' ? (int32_t)a >= (int32_t)b : (int32_t)a > (int32_t)b;
  }
  return 0;
}

static uint32_t eval(const struct anode *n, struct frame *fr) {
  switch (n->kind) {
  case N_NUM: return n->value;
  case N_LOCAL: return fr->v[n->value];
  case N_INDEX: return mem[eval(n->a, fr) % MEM];
  case N_CALL: return call(n->value, n->a, fr);
  case N_NEG: return 0u - eval(n->a, fr);
  case N_NOT: return !eval(n->a, fr);
  case N_AND: return eval(n->a, fr) && eval(n->b, fr);
  case N_OR: return eval(n->a, fr) || eval(n->b, fr);
  case N_BIN: {
    uint32_t a = eval(n->a, fr);
    return binop(n->op, a, eval(n->b, fr));
  }
  }
  return 0;
}

static int exec(const struct anode *n, struct frame *fr) {
  switch (n->kind) {
  case N_BLOCK:
    for (const struct anode *s = n->a; s; s = s->next)
      if (exec(s, fr)) return 1;
    return 0;
  case N_ASSIGN: fr->v[n->value] = eval(n->a, fr); return 0;
  case N_STORE: {
    uint32_t i = eval(n->a, fr);
    mem[i % MEM] = eval(n->b, fr);
    return 0;
  }
  case N_IF:
    if (eval(n->a, fr)) return exec(n->b, fr);
    return n->c ? exec(n->c, fr) : 0;
  case N_WHILE:
    while (eval(n->a, fr))
      if (exec(n->b, fr)) return 1;
    return 0;
  case N_RETURN: fr->ret = eval(n->a, fr); return 1;
  case N_EXPR: eval(n->a, fr); return 0;
  }
  return 0;
}

uint32_t k_ast(uint32_t n) {
  static struct parser ps;
  uint32_t h = 0;
  struct rc_arena a = {arena_buf, sizeof arena_buf, 0};
  for (uint32_t r = 0; r < n; r++) {
    a.used = 0;
    rc_memset(&ps, 0, sizeof ps);
    ps.arena = &a;
    if (!parse_program(&ps)) {
      rc_fail("ast: the program did not parse");
      return 0;
    }
    funcs = ps.funcs;
    uint32_t main_fn = func_index(&ps, "main"), fib_fn = func_index(&ps, "fib");
    struct anode arg = {N_NUM, "", 15, NULL, NULL, NULL, NULL};
    if (r == 0 && call(fib_fn, &arg, NULL) != 610) rc_fail("ast: fib(15) != 610");
    calls = 0;
    arg.value = 20 + (r & 15);
    h = rc_mix(h, call(main_fn, &arg, NULL));
    h = rc_mix(h, calls);
  }
  return h;
}
