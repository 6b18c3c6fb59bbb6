/**
 * The command line's own option parser. Node's parseArgs rejects `--mem -5` as "ambiguous" in
 * three lines and answers an unknown option with advice about positional arguments; here every
 * mistake is one line that names the option and the command, and a string option always takes
 * the next word as its value (so `--mem -5` reaches --mem's own check and is told what a size is).
 */
import { ConfigError } from '../vmm/config.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** One-letter alias, e.g. 'v' for -v. */
  readonly short?: string;
  /** What the value is, for messages (e.g. FILE, N, SIZE). */
  readonly value?: string;
  /** May be given more than once (e.g. --drive): every value is kept in `lists`, in order. */
  readonly repeatable?: boolean;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** `--help` or `-h` given as an option (not as another option's value): the caller prints the usage. */
export class HelpRequested extends Error {
  constructor() {
    super('help requested');
  }
}

export interface ParsedOptions {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
  /** Every value of each repeatable option, in command-line order. */
  readonly lists: Record<string, string[]>;
}

/**
 * Parses `args` for `tsvmm <command>`. `--name value`, `--name=value`, `-x value`, `-xvalue` and
 * `--flag`; `--` ends the options. A repeated option keeps its last value (so a script can
 * override a default it was given), except a repeatable one, whose values all land in `lists`. At most `maxPositionals` other words are accepted.
 * `--help` or `-h` where an option may stand throws HelpRequested, unless `helpWords` is false.
 */
export function parseOptions(command: string, args: readonly string[], specs: OptionSpecs, maxPositionals: number, positionalWhat = 'argument', helpWords = true): ParsedOptions {
  const values: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  const lists: Record<string, string[]> = {};
  const byShort = new Map<string, string>();
  for (const [name, s] of Object.entries(specs)) if (s.short !== undefined) byShort.set(s.short, name);
  const unknown = (word: string): never => {
    const near = nearestOption(word, specs);
    throw new ConfigError(`unknown option ${word} for tsvmm ${command} (${near !== undefined ? `did you mean --${near}? ` : ''}see tsvmm help)`);
  };

  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (word === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (helpWords && (word === '--help' || word === '-h')) throw new HelpRequested();
    let name: string | undefined;
    let inline: string | undefined;
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      if (eq >= 0) inline = word.slice(eq + 1);
      if (!Object.hasOwn(specs, name)) unknown(eq < 0 ? word : word.slice(0, eq));
    } else if (word.startsWith('-') && word.length > 1) {
      name = byShort.get(word[1]!);
      if (name === undefined) unknown(word.slice(0, 2));
      if (word.length > 2) inline = word[2] === '=' ? word.slice(3) : word.slice(2);
    } else {
      positionals.push(word);
      continue;
    }
    const spec = specs[name!]!;
    const shown = word.startsWith('--') ? `--${name}` : `-${spec.short}`;
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw new ConfigError(`${shown} takes no value (got "${inline}")`);
      values[name!] = true;
      continue;
    }
    if (inline === undefined) {
      if (i + 1 >= args.length) throw new ConfigError(`${shown} needs a value${spec.value ? ` (${spec.value})` : ''}`);
      inline = args[++i]!;
    }
    values[name!] = inline;
    if (spec.repeatable) (lists[name!] ??= []).push(inline);
  }
  if (positionals.length > maxPositionals) {
    const extra = positionals.slice(maxPositionals).join(' ');
    throw new ConfigError(maxPositionals === 0 ? `tsvmm ${command} takes no ${positionalWhat}s (got "${extra}")` : `tsvmm ${command}: unexpected ${positionalWhat} "${extra}"`);
  }
  return { values, positionals, lists };
}

/** The option a mistyped `--word` most likely meant: a prefix of it or a close spelling, if any. */
function nearestOption(word: string, specs: OptionSpecs): string | undefined {
  const typed = word.replace(/^-+/, '');
  if (typed.length < 2) return undefined;
  let best: string | undefined;
  let bestCost = Infinity;
  for (const name of Object.keys(specs)) {
    // An abbreviation is the likeliest meaning, then a close spelling, then the option with extra letters.
    const cost = name.startsWith(typed) ? 0 : Math.min(editDistance(typed, name), typed.startsWith(name) ? 1.5 : Infinity);
    if (cost < bestCost) {
      best = name;
      bestCost = cost;
    }
  }
  return bestCost <= Math.min(2, Math.floor(typed.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
