/**
 * JupyterLab plugins that make `%%dockerbuild` cells read like Dockerfiles.
 */

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry,
  IEditorLanguageRegistry
} from '@jupyterlab/codemirror';
import { INotebookTracker } from '@jupyterlab/notebook';

import { magicLineHighlighter } from './decoration';
import { DockerbuildMimeSwitcher } from './mimetype';

export { DOCKERFILE_MIME, isDockerbuildSource, tokenizeMagicLine } from './magic';

/** Switch `%%dockerbuild` notebook cells to the Dockerfile language. */
const highlight: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-dockerbuild:highlight',
  description: 'Highlight %%dockerbuild notebook cells as Dockerfiles.',
  autoStart: true,
  requires: [INotebookTracker, IEditorLanguageRegistry],
  activate: (
    _app: JupyterFrontEnd,
    tracker: INotebookTracker,
    languages: IEditorLanguageRegistry
  ): void => {
    const switcher = new DockerbuildMimeSwitcher(languages);
    tracker.forEach(panel => switcher.watch(panel));
    tracker.widgetAdded.connect((_, panel) => switcher.watch(panel));
  }
};

/** Style the `%%dockerbuild` line itself: magic name, flags, values. */
const magicLine: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-dockerbuild:magic-line',
  description: 'Style the %%dockerbuild line: magic name, flags and values.',
  autoStart: true,
  requires: [IEditorExtensionRegistry],
  activate: (_app: JupyterFrontEnd, extensions: IEditorExtensionRegistry): void => {
    extensions.addExtension({
      name: 'jupyter-dockerbuild:magic-line',
      factory: () => EditorExtensionRegistry.createImmutableExtension(magicLineHighlighter)
    });
  }
};

export default [highlight, magicLine];
