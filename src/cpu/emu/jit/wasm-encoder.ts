/** A minimal WebAssembly binary writer: what the wasm block compiler emits (one function per module). */

/** Opcodes used (names as in the spec's text format). */
export const enum W {
  Block = 0x02,
  Loop = 0x03,
  If = 0x04,
  Else = 0x05,
  End = 0x0b,
  Br = 0x0c,
  BrIf = 0x0d,
  Return = 0x0f,
  Call = 0x10,
  CallIndirect = 0x11,
  Drop = 0x1a,
  Select = 0x1b,
  LocalGet = 0x20,
  LocalSet = 0x21,
  LocalTee = 0x22,
  I32Load = 0x28,
  I64Load = 0x29,
  F64Load = 0x2b,
  I32Load8U = 0x2d,
  I32Load16U = 0x2f,
  I32Store = 0x36,
  I64Store = 0x37,
  I32Store8 = 0x3a,
  I32Store16 = 0x3b,
  F64Store = 0x39,
  I32Const = 0x41,
  I64Const = 0x42,
  F64Const = 0x44,
  I32Eqz = 0x45,
  I32Eq = 0x46,
  I32Ne = 0x47,
  I32LtS = 0x48,
  I32LtU = 0x49,
  I32GtS = 0x4a,
  I32LeS = 0x4c,
  I32LeU = 0x4d,
  I32GeS = 0x4e,
  I32GeU = 0x4f,
  I64Eqz = 0x50,
  I64Eq = 0x51,
  I64Ne = 0x52,
  I64LtS = 0x53,
  I64LtU = 0x54,
  I64LeS = 0x57,
  I64LeU = 0x58,
  F64Eq = 0x61,
  F64Ne = 0x62,
  F64Gt = 0x64,
  F64Ge = 0x66,
  I32Clz = 0x67,
  I32Ctz = 0x68,
  I32Popcnt = 0x69,
  I32Add = 0x6a,
  I32Sub = 0x6b,
  I32Mul = 0x6c,
  I32And = 0x71,
  I32Or = 0x72,
  I32Xor = 0x73,
  I32Shl = 0x74,
  I32ShrS = 0x75,
  I32ShrU = 0x76,
  I32Rotl = 0x77,
  I32Rotr = 0x78,
  I64Clz = 0x79,
  I64Ctz = 0x7a,
  I64Popcnt = 0x7b,
  I64Add = 0x7c,
  I64Sub = 0x7d,
  I64Mul = 0x7e,
  I64DivS = 0x7f,
  I64DivU = 0x80,
  I64RemS = 0x81,
  I64RemU = 0x82,
  I64And = 0x83,
  I64Or = 0x84,
  I64Xor = 0x85,
  I64Shl = 0x86,
  I64ShrS = 0x87,
  I64ShrU = 0x88,
  I64Rotl = 0x89,
  F64Abs = 0x99,
  F64Floor = 0x9c,
  F64Add = 0xa0,
  F64Sub = 0xa1,
  F64Div = 0xa3,
  F64Min = 0xa4,
  I32WrapI64 = 0xa7,
  I32TruncF64S = 0xaa,
  I64ExtendI32S = 0xac,
  I64ExtendI32U = 0xad,
  I64TruncF64S = 0xb0,
  F64ConvertI32S = 0xb7,
  F64ConvertI32U = 0xb8,
  F64ConvertI64S = 0xb9,
  I32Extend8S = 0xc0,
  I32Extend16S = 0xc1,
}

export const enum T {
  I32 = 0x7f,
  I64 = 0x7e,
  F64 = 0x7c,
  V128 = 0x7b,
  Void = 0x40,
}

/**
 * The fixed-width SIMD opcodes used (after the 0xFD prefix, LEB128-encoded; names as in the spec's text
 * format, lanes written out: I8 = i8x16, I16 = i16x8, I32x = i32x4, I64x = i64x2).
 */
export const enum V {
  Load = 0x00,
  Store = 0x0b,
  Const = 0x0c,
  Shuffle = 0x0d,
  Swizzle = 0x0e,
  I32xSplat = 0x11,
  I32xExtract = 0x1b,
  I32xReplace = 0x1c,
  I64xExtract = 0x1d,
  I64xReplace = 0x1e,
  Load32Zero = 0x5c,
  Load64Zero = 0x5d,
  I8Eq = 0x23,
  I8GtS = 0x27,
  I16Eq = 0x2d,
  I16GtS = 0x31,
  I32xEq = 0x37,
  I32xGtS = 0x3b,
  And = 0x4e,
  AndNot = 0x4f,
  Or = 0x50,
  Xor = 0x51,
  Bitselect = 0x52,
  I8Abs = 0x60,
  I8Bitmask = 0x64,
  I8NarrowS = 0x65,
  I8NarrowU = 0x66,
  I8ShrS = 0x6c,
  I8Add = 0x6e,
  I8AddSatS = 0x6f,
  I8AddSatU = 0x70,
  I8Sub = 0x71,
  I8SubSatS = 0x72,
  I8SubSatU = 0x73,
  I8MinS = 0x76,
  I8MinU = 0x77,
  I8MaxS = 0x78,
  I8MaxU = 0x79,
  I8AvgrU = 0x7b,
  I16Abs = 0x80,
  I16NarrowS = 0x85,
  I16NarrowU = 0x86,
  I16ExtendLowI8S = 0x87,
  I16ExtendLowI8U = 0x89,
  I16Shl = 0x8b,
  I16ShrS = 0x8c,
  I16ShrU = 0x8d,
  I16Add = 0x8e,
  I16AddSatS = 0x8f,
  I16AddSatU = 0x90,
  I16Sub = 0x91,
  I16SubSatS = 0x92,
  I16SubSatU = 0x93,
  I16Mul = 0x95,
  I16MinS = 0x96,
  I16MinU = 0x97,
  I16MaxS = 0x98,
  I16MaxU = 0x99,
  I16AvgrU = 0x9b,
  I32xAbs = 0xa0,
  I32xBitmask = 0xa4,
  I32xExtendLowI16S = 0xa7,
  I32xExtendLowI16U = 0xa9,
  I32xShl = 0xab,
  I32xShrS = 0xac,
  I32xShrU = 0xad,
  I32xAdd = 0xae,
  I32xSub = 0xb1,
  I32xMul = 0xb5,
  I32xMinS = 0xb6,
  I32xMinU = 0xb7,
  I32xMaxS = 0xb8,
  I32xMaxU = 0xb9,
  I32xDotI16S = 0xba,
  I32xExtmulLowI16S = 0xbc,
  I32xExtmulHighI16S = 0xbd,
  I32xExtmulLowI16U = 0xbe,
  I32xExtmulHighI16U = 0xbf,
  I64xBitmask = 0xc4,
  I64xExtendLowI32S = 0xc7,
  I64xExtendLowI32U = 0xc9,
  I64xShl = 0xcb,
  I64xShrS = 0xcc,
  I64xShrU = 0xcd,
  I64xAdd = 0xce,
  I64xSub = 0xd1,
  I64xMul = 0xd5,
  I64xEq = 0xd6,
  I64xGtS = 0xd9,
}

/** The SIMD prefix byte. */
const SIMD = 0xfd;

export function uleb(out: number[], n: number): void {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

export function sleb(out: number[], v: bigint): void {
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

const f64buf = new DataView(new ArrayBuffer(8));

/**
 * A function body being written: instructions and the locals it declares. The code goes straight into one
 * growing byte array (`buf`, `len` bytes of it): the tier emits ~1 KB per block, and pushing to a number array
 * (grown step by step, then copied element by element into the module) cost a tenth of the emit.
 */
export class Body {
  protected buf: Uint8Array;
  protected len = 0;
  readonly locals: T[] = [];
  /** The last local.set written (where, its local, where the code ended after it): a get right after it becomes a tee. */
  protected setAt = 0;
  protected setLocal = -1;
  protected setEnd = -1;
  /** `capacity`: the bytes first made room for (a block's body is ~1 KB; 64 or less is allocated on V8's heap). */
  constructor(
    readonly params: number,
    capacity = 64,
  ) {
    this.buf = new Uint8Array(capacity);
  }

  /** The code so far (a view: valid until the next write). */
  get code(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Room for n more bytes. */
  protected room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  /** One byte (the low 8 bits of v, as a number array copied into the module had it). */
  protected byte(v: number): void {
    if (this.len === this.buf.length) this.room(1);
    this.buf[this.len++] = v;
  }
  /** An unsigned LEB128. */
  uleb(n: number): this {
    while (n >= 128) {
      this.byte((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    this.byte(n);
    return this;
  }
  /** A signed LEB128 of an int32. */
  protected sleb32(v: number): void {
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }
  /** Inserts `bytes` at offset `at` of the code. */
  insert(at: number, bytes: ArrayLike<number>): void {
    const n = bytes.length;
    this.room(n);
    this.buf.copyWithin(at + n, at, this.len);
    for (let i = 0; i < n; i++) this.buf[at + i] = bytes[i]!;
    this.len += n;
  }

  local(t: T): number {
    this.locals.push(t);
    return this.params + this.locals.length - 1;
  }
  op(...ops: number[]): this {
    for (let i = 0; i < ops.length; i++) this.byte(ops[i]!);
    return this;
  }
  get(l: number): this {
    // local.set l; local.get l  ->  local.tee l
    if (this.setEnd === this.len && this.setLocal === l) {
      this.buf[this.setAt] = W.LocalTee;
      this.setEnd = -1;
      return this;
    }
    this.byte(W.LocalGet);
    this.uleb(l);
    return this;
  }
  set(l: number): this {
    this.setAt = this.len;
    this.byte(W.LocalSet);
    this.uleb(l);
    this.setEnd = this.len;
    this.setLocal = l;
    return this;
  }
  tee(l: number): this {
    this.byte(W.LocalTee);
    this.uleb(l);
    return this;
  }
  i32(v: number): this {
    this.byte(W.I32Const);
    this.sleb32(v | 0);
    return this;
  }
  /** i64.const v: an integer number (int32 without BigInt: most constants), or a bigint taken modulo 2^64. */
  i64(v: bigint | number): this {
    this.byte(W.I64Const);
    if (typeof v === 'number' && (v | 0) === v) {
      this.sleb32(v);
      return this;
    }
    const n = BigInt.asIntN(64, BigInt(v));
    if (n >= -0x8000_0000n && n <= 0x7fff_ffffn) this.sleb32(Number(n));
    else {
      const b: number[] = [];
      sleb(b, n);
      for (const x of b) this.byte(x);
    }
    return this;
  }
  f64(v: number): this {
    this.byte(W.F64Const);
    f64buf.setFloat64(0, v, true);
    for (let i = 0; i < 8; i++) this.byte(f64buf.getUint8(i));
    return this;
  }
  /** A memory access opcode with its alignment hint and constant offset. */
  mem(o: W, offset: number, align = 0): this {
    this.byte(o);
    this.byte(align);
    this.uleb(offset);
    return this;
  }
  call(f: number): this {
    this.byte(W.Call);
    this.uleb(f);
    return this;
  }
  /** SIMD instructions without immediates. */
  v(...ops: V[]): this {
    for (const o of ops) {
      this.byte(SIMD);
      this.uleb(o);
    }
    return this;
  }
  /** A SIMD memory access with its alignment hint (log2) and constant offset. */
  vmem(o: V, offset: number, align = 0): this {
    this.byte(SIMD);
    this.uleb(o);
    this.byte(align);
    this.uleb(offset);
    return this;
  }
  /** A SIMD lane access (extract_lane, replace_lane) of lane `lane`. */
  vlane(o: V, lane: number): this {
    this.byte(SIMD);
    this.uleb(o);
    this.byte(lane);
    return this;
  }
  /** v128.const of 16 bytes (lane 0 first). */
  v128(bytes: readonly number[]): this {
    this.byte(SIMD);
    this.uleb(V.Const);
    for (let i = 0; i < 16; i++) this.byte((bytes[i] ?? 0) & 0xff);
    return this;
  }
  /** i8x16.shuffle of the two v128 on the stack: byte k of the result is byte lanes[k] of (first ++ second). */
  shuffle(lanes: readonly number[]): this {
    this.byte(SIMD);
    this.uleb(V.Shuffle);
    for (let i = 0; i < 16; i++) this.byte(lanes[i]!);
    return this;
  }
}

export function vec(out: number[], items: number[][]): void {
  uleb(out, items.length);
  for (const i of items) out.push(...i);
}

export function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const v of body) out.push(v);
}

export function name(s: string): number[] {
  const b: number[] = [];
  uleb(b, s.length);
  for (let i = 0; i < s.length; i++) b.push(s.charCodeAt(i));
  return b;
}

/** A function type: [params, results]. */
export type FnType = readonly [readonly T[], readonly T[]];

/**
 * A module importing memory `e.m` and the functions `e.<names[i]>` (types[importTypes[i]]), defining one
 * function of type types[mainType] per body, exported as `f0`, `f1`, ..., after the helper functions (each of
 * its own type, not exported) that those may call (function index imports.length + j).
 * Written straight into one byte array (sizes first): the tier makes a module per batch of hot blocks, and
 * building it through nested number arrays cost as much as V8's compile of it.
 *
 * `viaTable`: the host functions are not imported. The module imports a table `e.u` instead, holding them
 * at their import index (tableOfHostFunctions), and defines at each import's function index a stub that
 * calls through the table, so the bodies' `call i` are the same. V8 compiles a JS-call wrapper for every
 * imported function's signature into each module that imports functions: with the tier's 10 imports that
 * was ~0.6 ms of a module's ~1 ms compile and instantiation (7.7 KB module, measured on Node 20); the
 * table costs one indirect call per host call.
 */
export function moduleBytes(
  types: readonly FnType[],
  imports: readonly (readonly [string, number])[],
  mainType: number,
  blocks: readonly Body[],
  helpers: readonly (readonly [number, Body])[] = [],
  viaTable = false,
): Uint8Array<ArrayBuffer> {
  const head = moduleHead(types, imports, viaTable);
  const stubs = viaTable ? stubsOf(types, imports) : NO_STUBS;
  const ns = stubs.types.length;
  // The helpers' functions come first (indices imports + j), then the exported ones (imports + helpers + i).
  const nh = helpers.length;
  const bodies = nh === 0 ? blocks : [...helpers.map((h) => h[1]), ...blocks];
  const nf = blocks.length;
  const n = bodies.length;
  // Function section: the stubs' types, then n entries of their types (below 128: one byte each).
  const fnBody = ulebLen(ns + n) + ns + n;
  // Export section: "f<i>", kind 0, index imports + helpers + i.
  let exBody = ulebLen(nf);
  for (let i = 0; i < nf; i++) {
    const nm = decimalLen(i) + 1;
    exBody += 1 + nm + 1 + ulebLen(imports.length + nh + i);
  }
  // Code section: the stubs, then per body its size, local groups (runs of one type), code and End.
  const sizes = new Array<number>(n);
  let codeBody = ulebLen(ns + n) + stubs.code.length;
  for (let i = 0; i < n; i++) {
    const b = bodies[i]!;
    let groups = 0;
    let groupBytes = 0;
    for (let k = 0; k < b.locals.length; ) {
      let e = k + 1;
      while (e < b.locals.length && b.locals[e] === b.locals[k]) e++;
      groups++;
      groupBytes += ulebLen(e - k) + 1;
      k = e;
    }
    const size = ulebLen(groups) + groupBytes + b.code.length + 1;
    sizes[i] = size;
    codeBody += ulebLen(size) + size;
  }
  const total = head.length + 1 + ulebLen(fnBody) + fnBody + 1 + ulebLen(exBody) + exBody + 1 + ulebLen(codeBody) + codeBody;
  const out = new Uint8Array(total);
  out.set(head, 0);
  let at = head.length;
  const put = (v: number): void => {
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v !== 0) b |= 0x80;
      out[at++] = b;
    } while (v !== 0);
  };
  out[at++] = 3;
  put(fnBody);
  put(ns + n);
  out.set(stubs.types, at);
  at += ns;
  for (let j = 0; j < nh; j++) out[at++] = helpers[j]![0];
  out.fill(mainType, at, at + nf);
  at += nf;
  out[at++] = 7;
  put(exBody);
  put(nf);
  for (let i = 0; i < nf; i++) {
    const d = String(i);
    out[at++] = d.length + 1;
    out[at++] = 0x66; // 'f'
    for (let k = 0; k < d.length; k++) out[at++] = d.charCodeAt(k);
    out[at++] = 0x00;
    put(imports.length + nh + i);
  }
  out[at++] = 10;
  put(codeBody);
  put(ns + n);
  out.set(stubs.code, at);
  at += stubs.code.length;
  for (let i = 0; i < n; i++) {
    const b = bodies[i]!;
    put(sizes[i]!);
    let groups = 0;
    for (let k = 0; k < b.locals.length; k++) if (k === 0 || b.locals[k] !== b.locals[k - 1]) groups++;
    put(groups);
    for (let k = 0; k < b.locals.length; ) {
      let e = k + 1;
      while (e < b.locals.length && b.locals[e] === b.locals[k]) e++;
      put(e - k);
      out[at++] = b.locals[k]!;
      k = e;
    }
    out.set(b.code, at);
    at += b.code.length;
    out[at++] = W.End;
  }
  return out;
}

type Imports = readonly (readonly [string, number])[];

/** Per (types, imports) pair, made once: what every module of the pair starts with, and its stubs. */
interface Pair {
  head?: Uint8Array;
  tableHead?: Uint8Array;
  stubs?: Stubs;
}
const pairs = new WeakMap<readonly FnType[], WeakMap<Imports, Pair>>();

function pairOf(types: readonly FnType[], imports: Imports): Pair {
  let byImports = pairs.get(types);
  if (byImports === undefined) pairs.set(types, (byImports = new WeakMap()));
  let p = byImports.get(imports);
  if (p === undefined) byImports.set(imports, (p = {}));
  return p;
}

function typeSection(out: number[], types: readonly FnType[]): void {
  const ty: number[] = [];
  vec(
    ty,
    types.map(([p, r]) => [0x60, ...lenPrefixed(p), ...lenPrefixed(r)]),
  );
  section(out, 1, ty);
}

/** The magic, version, type and import sections (memory `e.m`, then the functions or the table `e.u`). */
function moduleHead(types: readonly FnType[], imports: Imports, viaTable: boolean): Uint8Array {
  const p = pairOf(types, imports);
  const h = viaTable ? p.tableHead : p.head;
  if (h !== undefined) return h;
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  typeSection(out, types);
  const im: number[] = [];
  const mem = [...name('e'), ...name('m'), 0x02, 0x00, 0x00];
  if (viaTable) vec(im, [mem, [...name('e'), ...name('u'), 0x01, 0x70, 0x00, ...u(imports.length)]]);
  else vec(im, [mem, ...imports.map(([n, t]) => [...name('e'), ...name(n), 0x00, ...u(t)])]);
  section(out, 2, im);
  const made = new Uint8Array(out);
  if (viaTable) p.tableHead = made;
  else p.head = made;
  return made;
}

/** The stub functions of a module that reaches the host functions through its table: their types and code entries. */
interface Stubs {
  types: Uint8Array;
  code: Uint8Array;
}
const NO_STUBS: Stubs = { types: new Uint8Array(0), code: new Uint8Array(0) };

/** The code-section entry of a function of type types[t] that passes its parameters on to the call `call` emits. */
function forwarder(types: readonly FnType[], t: number, call: (b: Body) => void): number[] {
  const n = types[t]![0].length;
  const b = new Body(n);
  for (let k = 0; k < n; k++) b.get(k);
  call(b);
  const fn = [0, ...b.code, W.End]; // no locals
  return [...u(fn.length), ...fn];
}

/** Stub i: its parameters, then call_indirect through table 0 at index i with import i's type. */
function stubsOf(types: readonly FnType[], imports: Imports): Stubs {
  const p = pairOf(types, imports);
  if (p.stubs !== undefined) return p.stubs;
  const code = imports.flatMap(([, t], i) =>
    forwarder(types, t, (b) => {
      b.i32(i).op(W.CallIndirect).uleb(t).op(0);
    }),
  );
  p.stubs = { types: new Uint8Array(imports.map(([, t]) => t)), code: new Uint8Array(code) };
  return p.stubs;
}

/**
 * The functions `fns` (by import name) as wasm functions in a table, at their import index: what a module
 * made with `viaTable` imports as `e.u`. They are exported by one module that imports them once.
 */
export function tableOfHostFunctions(api: WasmApi, types: readonly FnType[], imports: Imports, fns: Record<string, unknown>): WasmTable {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  typeSection(out, types);
  const im: number[] = [];
  vec(
    im,
    imports.map(([n, t]) => [...name('e'), ...name(n), 0x00, ...u(t)]),
  );
  section(out, 2, im);
  const fs: number[] = [];
  vec(
    fs,
    imports.map(([, t]) => u(t)),
  );
  section(out, 3, fs);
  const ex: number[] = [];
  vec(
    ex,
    imports.map(([n], i) => [...name(n), 0x00, ...u(imports.length + i)]),
  );
  section(out, 7, ex);
  const cs: number[] = [];
  vec(
    cs,
    imports.map(([, t], i) => forwarder(types, t, (b) => b.call(i))),
  );
  section(out, 10, cs);
  const inst = new api.Instance(new api.Module(new Uint8Array(out)), { e: fns });
  const table = new api.Table({ initial: imports.length, element: 'anyfunc' });
  imports.forEach(([n], i) => table.set(i, inst.exports[n]));
  return table;
}

function ulebLen(n: number): number {
  let k = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    k++;
  }
  return k;
}

function decimalLen(i: number): number {
  return String(i).length;
}

export function u(n: number): number[] {
  const b: number[] = [];
  uleb(b, n);
  return b;
}

export function lenPrefixed(ts: readonly T[]): number[] {
  return [...u(ts.length), ...ts];
}

/** The part of the WebAssembly JS API the tier uses (typed here: the project's libs, ES2022 without DOM, lack it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
/** A table of functions (funcref). */
export interface WasmTable {
  readonly length: number;
  set(i: number, f: unknown): void;
}
export interface WasmApi {
  Memory: new (desc: { initial: number; maximum: number }) => WasmMemory;
  Table: new (desc: { element: 'anyfunc'; initial: number }) => WasmTable;
  Module: new (bytes: Uint8Array<ArrayBuffer>) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
  validate(bytes: Uint8Array<ArrayBuffer>): boolean;
}
/** WebAssembly where the host has it (Node, browsers), else undefined. */
export const wasmApi: WasmApi | undefined = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/**
 * Whether this engine compiles WebAssembly's fixed-width SIMD (v128: Node 16.4+, current browsers): a module
 * using it validates. Without it the tier emits no SIMD forms (their instructions call their handlers).
 */
export const wasmSimd: boolean = ((): boolean => {
  if (wasmApi === undefined) return false;
  try {
    const b = new Body(0);
    b.v128([]).op(W.Drop);
    return wasmApi.validate(moduleBytes([[[], []]], [], 0, [b]));
  } catch {
    return false;
  }
})();
