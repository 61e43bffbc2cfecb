/**
 * Keep the editor mimetype of each notebook code cell in step with its source:
 * `text/x-dockerfile` while it starts with `%%dockerbuild`, the notebook's code
 * mimetype otherwise.
 */

import type { ICellModel } from '@jupyterlab/cells';
import type { CodeEditor } from '@jupyterlab/codeeditor';
import type { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import type { Notebook, NotebookPanel } from '@jupyterlab/notebook';
import type { IChangedArgs } from '@jupyterlab/coreutils';
import type { IObservableList } from '@jupyterlab/observables';

import { DOCKERFILE_MIME, isDockerbuildSource } from './magic';

/**
 * Watches the code cells of notebooks and switches their mimetype.
 *
 * The notebook itself sets every code cell's mimetype when a cell is inserted
 * and again when the kernel's `language_info` arrives (kernel start, restart,
 * kernel change). Rather than racing those, each watched cell model reacts to
 * its own `mimeTypeChanged` signal and puts the Dockerfile mimetype back.
 *
 * The editor loads a language asynchronously on each mimetype change, and the
 * last load to finish wins. Both languages are therefore loaded once through the
 * registry before the first switch; after that every load resolves at once and
 * in order.
 */
export class DockerbuildMimeSwitcher {
  constructor(languages: IEditorLanguageRegistry) {
    this._languages = languages;
  }

  /** Start watching a notebook panel's cells, now and as cells are added. */
  watch(panel: NotebookPanel): void {
    const notebook = panel.content;
    const attach = (): void => {
      const model = notebook.model;
      if (!model || this._notebooks.has(model)) {
        return;
      }
      this._notebooks.add(model);
      for (const cell of model.cells) {
        this._watchCell(cell, notebook);
      }
      model.cells.changed.connect(
        (_: unknown, change: IObservableList.IChangedArgs<ICellModel>) => {
          if (change.type === 'add' || change.type === 'set') {
            for (const cell of change.newValues) {
              this._watchCell(cell, notebook);
            }
          }
        }
      );
    };
    notebook.modelChanged.connect(attach);
    attach();
  }

  /** Watch one cell model: its source and its mimetype. */
  private _watchCell(cell: ICellModel, notebook: Notebook): void {
    if (cell.type !== 'code' || this._cells.has(cell)) {
      return;
    }
    this._cells.add(cell);
    const update = (): void => this._update(cell, notebook);
    cell.sharedModel.changed.connect((_, change) => {
      if (change.sourceChange) {
        update();
      }
    });
    cell.mimeTypeChanged.connect(
      (_: CodeEditor.IModel, change: IChangedArgs<string>) => {
        // Our own switches come back through here; nothing to do for them.
        if (change.newValue !== this._desired(cell, notebook)) {
          update();
        }
      }
    );
    update();
  }

  /** The mimetype a cell should have now. */
  private _desired(cell: ICellModel, notebook: Notebook): string {
    if (isDockerbuildSource(cell.sharedModel.getSource())) {
      return DOCKERFILE_MIME;
    }
    // Leave cells we never switched alone (other extensions may set them).
    return cell.mimeType === DOCKERFILE_MIME ? notebook.codeMimetype : cell.mimeType;
  }

  /** Set a cell's mimetype to the desired one, once both languages are loaded. */
  private _update(cell: ICellModel, notebook: Notebook): void {
    if (cell.isDisposed || this._desired(cell, notebook) === cell.mimeType) {
      return;
    }
    const apply = (): void => {
      if (cell.isDisposed) {
        return;
      }
      const mime = this._desired(cell, notebook);
      if (mime !== cell.mimeType) {
        cell.mimeType = mime;
      }
    };
    const code = notebook.codeMimetype;
    if (this._loaded.has(code)) {
      apply();
      return;
    }
    void Promise.all([
      this._languages.getLanguage(DOCKERFILE_MIME),
      this._languages.getLanguage(code)
    ])
      .then(() => {
        this._loaded.add(code);
        apply();
      })
      .catch((reason: unknown) => {
        console.error('jupyter-dockerbuild: could not load editor languages', reason);
      });
  }

  private _languages: IEditorLanguageRegistry;
  /** Code mimetypes whose language is loaded together with the Dockerfile one. */
  private _loaded = new Set<string>();
  private _notebooks = new WeakSet<object>();
  private _cells = new WeakSet<ICellModel>();
}
