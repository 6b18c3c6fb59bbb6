/**
 * The instruction table: every row of every group, and the rows for decoder outcomes that
 * are not instructions. The decoder (../decoder.ts) builds its dispatch arrays from ROWS;
 * the block compiler, the run loop and the tests read the rows through Insn.row.
 */
import { invalidOpcode, tooLong } from '../ops-system.js';
import { aluTable } from './alu.js';
import { flowTable } from './flow.js';
import { stringTable } from './string.js';
import { systemTable } from './system.js';
import { sseTable } from './sse.js';
import { special, type Row } from './row.js';

export const ROWS: readonly Row[] = [...aluTable(), ...flowTable(), ...stringTable(), ...systemTable(), ...sseTable()];

/** An invalid encoding or a LOCK where none is allowed: #UD. */
export const ROW_INVALID = special('(invalid)', invalidOpcode, true);
/** More than 15 bytes: #GP(0). */
export const ROW_TOO_LONG = special('(too long)', tooLong, true);
/** No row, or a known instruction without a handler: #UD with a warning naming it (see decoder.ts). */
export const ROW_UNIMPLEMENTED = special('(unimplemented)', null, false);
