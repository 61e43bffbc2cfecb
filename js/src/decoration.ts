/**
 * A CodeMirror extension that styles the `%%dockerbuild` line of a cell.
 *
 * The Dockerfile language leaves that line unstyled, so the magic name, its
 * flags and their values would all read as one grey run of text. Mark
 * decorations give each token a class (see `style/base.css`).
 */

import { RangeSetBuilder, type Extension } from '@codemirror/state';
import {
  Decoration,
  type DecorationSet,
  EditorView,
  ViewPlugin,
  type ViewUpdate
} from '@codemirror/view';

import { type MagicTokenKind, magicHead, tokenizeMagicLine } from './magic';

const MARKS: Record<MagicTokenKind, Decoration> = {
  magic: Decoration.mark({ class: 'cm-dockerbuild-magic' }),
  flag: Decoration.mark({ class: 'cm-dockerbuild-flag' }),
  value: Decoration.mark({ class: 'cm-dockerbuild-value' }),
  string: Decoration.mark({ class: 'cm-dockerbuild-string' }),
  variable: Decoration.mark({ class: 'cm-dockerbuild-variable' })
};

function decorate(view: EditorView): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  for (const token of tokenizeMagicLine(magicHead(view.state.doc))) {
    builder.add(token.from, token.to, MARKS[token.kind]);
  }
  return builder.finish();
}

/** The editor extension: decorations recomputed when the document changes. */
export const magicLineHighlighter: Extension = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;

    constructor(view: EditorView) {
      this.decorations = decorate(view);
    }

    update(update: ViewUpdate): void {
      if (update.docChanged) {
        this.decorations = decorate(update.view);
      }
    }
  },
  { decorations: plugin => plugin.decorations }
);
