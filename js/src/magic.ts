/**
 * Recognising `%%dockerbuild` cells and splitting their magic line into tokens.
 *
 * Pure functions with no JupyterLab or DOM dependency, shared by the Dockerfile
 * language extension and the magic-line decoration.
 */

/** The name of the cell magic, as typed at the start of a cell. */
export const MAGIC = '%%dockerbuild';

/** The mimetype of the Dockerfile language JupyterLab 4 ships. */
export const DOCKERFILE_MIME = 'text/x-dockerfile';

/**
 * IPython drops blank lines before a cell magic, so `%%dockerbuild` may follow
 * them. The magic name must end at whitespace or the end of the text, so
 * `%%dockerbuilder` is not ours.
 */
const MAGIC_LINE = /^(?:[ \t]*\r?\n)*([ \t]*)%%dockerbuild(?=\s|$)/;

/** Only the first lines can hold the magic; don't stringify a huge document. */
export const HEAD_CHARS = 4096;

/** The start of an editor document, where the magic line must be. */
export function magicHead(doc: {
  length: number;
  sliceString(from: number, to?: number): string;
}): string {
  return doc.sliceString(0, Math.min(doc.length, HEAD_CHARS));
}

/** Whether a cell's source is a `%%dockerbuild` cell. */
export function isDockerbuildSource(source: string): boolean {
  return MAGIC_LINE.test(source);
}

/** The kinds of token the magic line is split into. */
export type MagicTokenKind = 'magic' | 'flag' | 'value' | 'string' | 'variable';

/** A token of the magic line, as offsets into the cell source. */
export interface IMagicToken {
  kind: MagicTokenKind;
  from: number;
  to: number;
}

/**
 * Split the `%%dockerbuild` line of `source` into tokens.
 *
 * Returns an empty list when `source` is not a `%%dockerbuild` cell. Words
 * starting with `-` are flags (`--build-arg=A=1` gives the flag `--build-arg`
 * and the value `A=1`); quoted words are strings; IPython's `$name` and
 * `{expr}` expansions are variables; everything else is a plain value.
 */
export function tokenizeMagicLine(source: string): IMagicToken[] {
  const match = MAGIC_LINE.exec(source);
  if (!match) {
    return [];
  }
  const start = match[0].length - MAGIC.length;
  const newline = source.indexOf('\n', start);
  const end = newline === -1 ? source.length : newline;
  const tokens: IMagicToken[] = [{ kind: 'magic', from: start, to: start + MAGIC.length }];
  // Words are runs of non-blanks; quotes may hold blanks.
  const word = /(?:"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s"']+)+/g;
  word.lastIndex = start + MAGIC.length;
  const line = source.slice(0, end);
  let m: RegExpExecArray | null;
  while ((m = word.exec(line)) !== null) {
    tokens.push(...classifyWord(m[0], m.index));
  }
  return tokens;
}

/** Classify one word of the magic line, starting at offset `at`. */
function classifyWord(text: string, at: number): IMagicToken[] {
  if (/^-[^\d]/.test(text)) {
    const eq = text.indexOf('=');
    if (eq === -1) {
      return [{ kind: 'flag', from: at, to: at + text.length }];
    }
    return [
      { kind: 'flag', from: at, to: at + eq },
      ...classifyWord(text.slice(eq + 1), at + eq + 1)
    ];
  }
  if (text === '') {
    return [];
  }
  if (/^["']/.test(text)) {
    return [{ kind: 'string', from: at, to: at + text.length }];
  }
  if (/^(?:\$\w|\{)/.test(text)) {
    return [{ kind: 'variable', from: at, to: at + text.length }];
  }
  return [{ kind: 'value', from: at, to: at + text.length }];
}
