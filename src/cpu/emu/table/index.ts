/**
 * The instruction table: every row of every group, and the rows for decoder outcomes that
 * are not instructions. The decoder (../decoder.ts) builds its dispatch arrays from these on
 * first use; the block compiler, the run loop and the tests read rows through Insn.row.
 *
 * Built lazily, never at module initialisation: the table files import the handlers and the
 * handlers' modules (through the run loop) import the decoder, so building rows while modules
 * are still being evaluated could meet a binding in its temporal dead zone.
 */
import { invalidOpcode, tooLong } from '../ops-system.js';
import { aluTable } from './alu.js';
import { flowTable } from './flow.js';
import { stringTable } from './string.js';
import { systemTable } from './system.js';
import { sseTable } from './sse.js';
import { x87Table } from './x87.js';
import { special, type Row } from './row.js';

export interface SpecialRows {
  /** An invalid encoding or a LOCK where none is allowed: #UD. */
  readonly invalid: Row;
  /** More than 15 bytes: #GP(0). */
  readonly tooLong: Row;
  /** No row, or a known instruction without a handler: #UD with a warning naming it (see decoder.ts). */
  readonly unimplemented: Row;
}

let rows: readonly Row[] | null = null;
let specials: SpecialRows | null = null;

/** Every row of the table. */
export function tableRows(): readonly Row[] {
  rows ??= [...aluTable(), ...flowTable(), ...stringTable(), ...systemTable(), ...sseTable(), ...x87Table()];
  return rows;
}

/** The rows of decoder outcomes that are not instructions. */
export function specialRows(): SpecialRows {
  specials ??= { invalid: special('(invalid)', invalidOpcode, true), tooLong: special('(too long)', tooLong, true), unimplemented: special('(unimplemented)', null, false) };
  return specials;
}
