/**
 * Dockerfile highlighting for `%%dockerbuild` cells, decided by the cell's text alone.
 *
 * JupyterLab gives an editor its language through the cell model's mimetype: each
 * change starts an asynchronous load, and the editor applies whichever load finishes
 * last, not the one for the mimetype the cell has now. Switching `%%dockerbuild` cells
 * to `text/x-dockerfile` therefore raced the notebook's own switch to its kernel's
 * language. A notebook JupyterLab saved already names ipython in its `language_info`,
 * so on reopening the notebook switches once, to a language not loaded yet, and nothing
 * switches again: that first Python load finished after the Dockerfile one in 7 of 8
 * reopenings, and the cell stayed Python.
 *
 * So the mimetype is left to JupyterLab (as for every other cell magic), and this
 * editor extension puts the Dockerfile language above the editor's own, at the highest
 * precedence, while the document starts with `%%dockerbuild`: from the editor's first
 * state (the model's source), then in the very transaction that adds or removes the
 * magic. No load, no signal, no race. In other cells nothing of ours is active (not even
 * an empty language provider, which CodeMirror would take as a language to parse with),
 * and the editor's own language applies whenever it finishes loading.
 */

import type { LanguageSupport } from '@codemirror/language';
import { Compartment, EditorState, type Extension, Prec } from '@codemirror/state';

import { HEAD_CHARS, isDockerbuildSource, magicHead } from './magic';

/**
 * The editor extension: `dockerfile` as the language while the document is a
 * `%%dockerbuild` cell. `source` is the document the editor starts with.
 */
export function dockerbuildLanguage(dockerfile: LanguageSupport, source: string): Extension {
  const compartment = new Compartment();
  const ours = Prec.highest(dockerfile);
  return [
    compartment.of(isDockerbuildSource(source.slice(0, HEAD_CHARS)) ? ours : []),
    EditorState.transactionExtender.of(tr => {
      if (!tr.docChanged) {
        return null;
      }
      const wanted = isDockerbuildSource(magicHead(tr.newDoc));
      const active = compartment.get(tr.startState) === ours;
      return wanted === active ? null : { effects: compartment.reconfigure(wanted ? ours : []) };
    })
  ];
}
