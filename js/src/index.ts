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

import { magicLineHighlighter } from './decoration';
import { dockerbuildLanguage } from './language';
import { DOCKERFILE_MIME } from './magic';

export { DOCKERFILE_MIME, isDockerbuildSource, tokenizeMagicLine } from './magic';

/**
 * Highlight `%%dockerbuild` cells (in every editor) as Dockerfiles.
 *
 * Activation waits for JupyterLab's own Dockerfile language to load, so the editor
 * extension has it from the first editor on: JupyterLab attaches its shell and restores
 * notebooks only once every startup plugin has activated.
 */
const highlight: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-dockerbuild:highlight',
  description: 'Highlight %%dockerbuild cells as Dockerfiles.',
  autoStart: true,
  requires: [IEditorExtensionRegistry, IEditorLanguageRegistry],
  activate: async (
    _app: JupyterFrontEnd,
    extensions: IEditorExtensionRegistry,
    languages: IEditorLanguageRegistry
  ): Promise<void> => {
    const support = (await languages.getLanguage(DOCKERFILE_MIME))?.support;
    if (!support) {
      console.error(`jupyter-dockerbuild: JupyterLab has no ${DOCKERFILE_MIME} language`);
      return;
    }
    extensions.addExtension({
      name: 'jupyter-dockerbuild:highlight',
      factory: ({ model }) =>
        EditorExtensionRegistry.createImmutableExtension(
          dockerbuildLanguage(support, model.sharedModel.getSource())
        )
    });
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
