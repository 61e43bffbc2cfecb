"""The interactive build form: the widgets of :class:`~.form_model.FormModel`.

``%%dockerbuild --form`` (or :class:`BuildForm` from Python) shows the ``docker build``
flags as fields above a progress area. This module only lays out and binds: a widget
event sets the model (:mod:`.form_model`: values, checks, commands, builds), and every
model change redraws the widgets from the model and :mod:`.form_hints` (what the form
says). The fields come from the option table, so the form validates exactly like the
magic does and the Build button is disabled with that message while something is wrong.
Builds run on a background thread (the notebook stays responsive; Cancel closes the
connection, which makes the daemon kill the build container); progress is drawn by a
:class:`~jupyter_dockerbuild.ui.live.LiveView` into the form's own progress widgets. Push
sends the last build's tags to their registry the same way (Cancel stops it), drawn
under the build's steps. Unlike the magic's live view (plain HTML output, see
:mod:`.live`), the form is widgets by nature, so it keeps what it can of the same rules:
the same throttled HTML and final summary, drawn into one HTML widget that every build
reuses (no widget made per build), and the widgets of a removed build-arg row closed.

Secret build args: the value is typed into a password field whose ``value`` is cleared
as soon as it reaches the kernel and is never echoed back, so it lives only in the
model, never in the widget state a notebook saves, the equivalent commands, the
progress view or a repr (``BuildOptions.secret_args`` masks it).
"""

from __future__ import annotations

import html
import itertools
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
from traitlets import Unicode

from ..builder.dockerfile import DeclaredArg, declared_args
from ..builder.options import CPU_PERIOD, OPTION, BuildOptions, Kind, Option, cpus_to_cfs
from ..builder.state import BuildResult
from ..errors import DockerBuildError, OptionsError
from . import form_hints as say
from .form_hints import HISTORY_WARNING
from .form_model import (
    FLAG_FIELDS,
    LIST_FIELDS,
    SECRET_EMPTY,
    SECRET_SET,
    TEXT_FIELDS,
    ArgRow,
    FormModel,
)
from .live import LiveView

__all__ = [
    "CPU_PERIOD",
    "HISTORY_WARNING",
    "SECRET_EMPTY",
    "SECRET_SET",
    "BuildArgRow",
    "BuildForm",
    "DeclaredArg",
    "cpus_to_cfs",
    "declared_args",
]

_FORM_IDS = itertools.count(1)

_CSS = """
.jdb-form { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 8px;
  padding: 10px 14px 12px; background: var(--jp-layout-color1, #fff); max-width: 1040px;
  box-shadow: 0 1px 3px rgba(0,0,0,.06); }
.jdb-form .jdb-title { font-size: 15px; font-weight: 600; color: var(--jp-ui-font-color1); }
.jdb-form .jdb-sub { color: var(--jp-ui-font-color2, #666); font-size: 12px; }
.jdb-form .jdb-h { font-weight: 600; font-size: 12px; letter-spacing: .04em;
  text-transform: uppercase; color: var(--jp-ui-font-color2, #555);
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); margin: 10px 0 4px;
  padding-bottom: 2px; }
.jdb-form .jdb-hint { color: var(--jp-ui-font-color2, #666); font-size: 12px;
  line-height: 1.3; }
.jdb-form .jdb-hint code, .jdb-form .jdb-warn code { font-size: 11px; }
.jdb-form .jdb-ok { color: #2e7d32; }
.jdb-form .jdb-err { color: #c62828; }
.jdb-form .jdb-warn { color: #8a5300; font-size: 12px; background: #fff8e1;
  border-left: 3px solid #ffb300; padding: 3px 8px; margin: 4px 0; line-height: 1.35; }
.jdb-form .jdb-invalid input, .jdb-form .jdb-invalid.jupyter-widget-tagsinput {
  border-color: #c62828 !important; background: #fff6f6; }
.jdb-form .jdb-chips > .widget-text { display: none !important; }
.jdb-form .widget-html-content { line-height: 1.35; }
.jdb-form .jdb-field-hint .jdb-ok, .jdb-form .jdb-field-hint .jdb-hint,
.jdb-form .jdb-arg-row .jdb-hint { white-space: nowrap; }
.jdb-form .jdb-arg-name input:disabled { background: transparent; border-color: transparent;
  color: var(--jp-ui-font-color1, #222); font-family: var(--jp-code-font-family, monospace);
  font-weight: 600; opacity: 1; }
.jdb-form .jdb-title .fa { color: #1d63ed; }
.jdb-form .jdb-chips { margin-left: 4px; }
.jdb-form .jdb-col-head { color: var(--jp-ui-font-color2, #777); font-size: 11px; }
.jdb-form textarea.jdb-cli { width: 100%; box-sizing: border-box; resize: vertical;
  font-family: var(--jp-code-font-family, monospace); font-size: 12px; line-height: 1.4;
  color: var(--jp-content-font-color1, #222); background: var(--jp-layout-color2, #f5f5f5);
  border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px; padding: 4px 8px;
  margin: 1px 0 6px; }
.jdb-form .jdb-cli-label { font-size: 11px; color: var(--jp-ui-font-color2, #777); }
.jdb-form .jdb-status { font-size: 13px; padding-left: 8px; }
.jdb-form .jdb-status code { font-size: 12px; }
"""


# -- one build arg --------------------------------------------------------------------


class _SecretInput(widgets.Password):
    """A password field whose value is never echoed back by the kernel.

    ipywidgets 8 echoes every value it receives to all frontends; for a secret that
    would send it straight back. The form clears ``value`` once it has read it.
    """

    value = Unicode("", help="Cleared by the form as soon as it is read").tag(
        sync=True, echo_update=False
    )


class BuildArgRow:
    """The widgets of one build arg: NAME, VALUE (masked when secret), a secret toggle.

    Bound to an :class:`~.form_model.ArgRow` (``model``), which holds the values: a
    secret one typed into ``secret_input`` is moved there at once, never kept in a
    widget trait.
    """

    def __init__(self, row: ArgRow, on_remove: Callable[[ArgRow], None]) -> None:
        self.model = row
        self.declared = row.declared
        self.default_hint = row.default_hint
        self.name = widgets.Text(
            value=row.name,
            placeholder="NAME",
            disabled=row.declared is not None,
            layout=widgets.Layout(width="190px"),
        )
        self.name.add_class("jdb-arg-name")
        self.value = widgets.Text(
            value=row.plain, placeholder=row.default_hint, layout=widgets.Layout(width="300px")
        )
        self.value.add_class("jdb-arg-value")
        self.secret_input = _SecretInput(
            placeholder=row.secret_placeholder,
            continuous_update=False,  # send once (Enter or blur), not per keystroke
            layout=widgets.Layout(width="300px"),
        )
        self.secret_input.add_class("jdb-arg-secret")
        self.secret = widgets.ToggleButton(
            value=row.secret,
            description="secret",
            icon="unlock",
            tooltip="Mask the value and keep it out of the saved notebook, the commands "
            "and the log (turning it off forgets the hidden value)",
            layout=widgets.Layout(width="92px"),
        )
        self.secret.add_class("jdb-arg-toggle")
        declared = row.declared is not None
        self.remove = widgets.Button(
            icon="eraser" if declared else "trash",
            tooltip="Clear: use the Dockerfile's default" if declared else "Remove this build arg",
            layout=widgets.Layout(width="36px"),
        )
        self.remove.on_click(lambda _b: on_remove(row))
        self.note = widgets.HTML()
        self.box = widgets.HBox(
            [self.name, self.value, self.secret, self.remove, self.note],
            layout=widgets.Layout(align_items="center"),
        )
        self.box.add_class("jdb-arg-row")
        self.name.observe(lambda c: row.set_name(c["new"]), names="value")
        self.value.observe(lambda c: row.set_plain(c["new"]), names="value")
        self.secret.observe(lambda c: row.set_secret(c["new"]), names="value")
        # The "" the view puts back comes here too: ignore it.
        self.secret_input.observe(
            lambda c: c["new"] and row.set_secret_value(c["new"]), names="value"
        )

    def close(self) -> None:
        """Close the row's widgets (and their layouts and styles): the row was removed.

        A closed widget's model goes from the kernel and from every frontend; a row
        merely dropped from the form would leave its ~20 models alive in both.
        """
        # Both value fields: only one of them is a child of the box at a time.
        for widget in (self.box, self.value, self.secret_input):
            close_tree(widget)

    @property
    def is_secret(self) -> bool:
        """True if the value is masked and kept kernel-side."""
        return self.model.secret

    def get(self) -> tuple[str, str | None]:
        """``(name, value)``; ``value`` is ``None`` when empty (not sent)."""
        return self.model.get()

    def set_secret(self, value: str) -> None:
        """Set a secret value from Python (marks the row secret)."""
        self.model.set_secret_value(value)

    def clear(self) -> None:
        """Empty the value (and the secret toggle)."""
        self.model.clear()

    def render(self, note: str, invalid: bool) -> None:
        """Show the model's state (called by the form on every change)."""
        row = self.model
        self.name.value = row.name
        self.secret.value = row.secret
        self.value.value = row.plain
        if self.secret_input.value:
            self.secret_input.value = ""  # what was typed is in the model now
        self.secret_input.placeholder = row.secret_placeholder
        shown = self.secret_input if row.secret else self.value
        if self.box.children[1] is not shown:
            children = list(self.box.children)
            children[1] = shown
            self.box.children = tuple(children)
        self.secret.icon = "lock" if row.secret else "unlock"
        self.secret.button_style = "warning" if row.secret else ""
        self.note.value = note
        _set_class(self.name, "jdb-invalid", invalid)


def close_tree(widget: widgets.Widget) -> None:
    """Close ``widget``, its children, and the layout and style models each one made."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    for part in ("layout", "style"):
        model = getattr(widget, part, None)
        if isinstance(model, widgets.Widget):
            model.close()
    widget.close()


def _set_class(widget: widgets.DOMWidget, name: str, on: bool) -> None:
    if on and name not in widget._dom_classes:
        widget.add_class(name)
    elif not on and name in widget._dom_classes:
        widget.remove_class(name)


# -- the form ---------------------------------------------------------------------------


def _heading(text: str) -> widgets.HTML:
    return widgets.HTML(f'<div class="jdb-h">{html.escape(text)}</div>')


def _labelled(label: str, *items: widgets.Widget) -> widgets.HBox:
    head = widgets.HTML(
        f'<span style="display:inline-block;width:80px;text-align:right;'
        f'padding-right:6px">{html.escape(label)}</span>',
        layout=widgets.Layout(width="88px", min_width="88px"),
    )
    return widgets.HBox([head, *items], layout=widgets.Layout(align_items="center"))


def _label(opt: Option) -> str:
    """A field's caption: its flag without dashes (``memory-swap``), or its name."""
    return opt.long_flag.removeprefix("--")


class _Layout:
    """Creates the form's widgets, in groups made from the option table, onto the form.

    Layout only: each field is bound to the model as it is made (widget event ->
    model); drawing the model into them is :meth:`BuildForm._render`.
    """

    def __init__(self, form: BuildForm) -> None:
        self.form = form

    def build(self) -> None:
        form = self.form
        form.daemon_label = widgets.HTML()
        header = widgets.HBox(
            [widgets.HTML(say.title(form.model)), form.daemon_label],
            layout=widgets.Layout(justify_content="space-between", align_items="baseline"),
        )
        form._tag_css = widgets.HTML("")
        form.tag_input, form.tags = self._list_field(OPTION["tags"], width="260px")
        form.tags_hint = widgets.HTML()
        form.widget = widgets.VBox(
            [
                widgets.HTML(f"<style>{_CSS}</style>"),
                form._tag_css,
                header,
                _heading("Tags"),
                widgets.HBox([form.tag_input, form.tags]),
                form.tags_hint,
                _heading("Build args"),
                *self._build_args_group(),
                _heading("Resource limits (of the RUN steps)"),
                self._resources_group(),
                _heading("Options"),
                *self._options_group(),
                _heading("Equivalent command"),
                *self._actions(),
            ]
        )
        form.widget.add_class("jdb-form")
        form.widget.add_class(form._uid)

    def _text_field(self, opt: Option, *, width: str = "196px") -> widgets.Widget:
        form = self.form
        name, label = opt.name, _label(opt)
        common: dict[str, Any] = {
            "value": form.model.text[name],
            "description": label,
            "placeholder": opt.placeholder,
            "style": {"description_width": "100px"},
        }
        if opt.choices:  # suggestions, any value allowed
            box = widgets.Combobox(
                options=list(opt.choices),
                ensure_option=False,
                layout=widgets.Layout(width=width),
                **common,
            )
        else:
            box = widgets.Text(layout=widgets.Layout(width=width, min_width=width), **common)
        box.add_class(f"jdb-field-{label}")
        box.observe(lambda c: form.model.set_text(name, c["new"]), names="value")
        setattr(form, name, box)
        return box

    def _list_field(self, opt: Option, *, width: str) -> tuple[widgets.Text, widgets.TagsInput]:
        """A text box checked as it is typed, whose Enter adds a removable chip.

        The chips are a ``TagsInput``; its own input is hidden (CSS) because in
        Chromium it commits on blur only, not on Enter: the text box does both.
        """
        form = self.form
        name, css = opt.name, "jdb-" + opt.name.replace("_", "-")
        chips = widgets.TagsInput(
            value=list(form.model.lists[name]),
            allow_duplicates=False,
            layout=widgets.Layout(flex="1", min_height="30px"),
        )
        chips.add_class(css)
        chips.add_class("jdb-chips")
        chips.observe(lambda c: form.model.set_list(name, list(c["new"])), names="value")
        text = widgets.Text(
            placeholder=opt.placeholder,
            continuous_update=True,
            layout=widgets.Layout(width=width, min_width=width),
        )
        text.add_class(f"{css}-input")
        text.observe(lambda c: form.model.set_pending(name, c["new"]), names="value")

        def on_msg(_widget: Any, content: dict[str, Any], _buffers: Any) -> None:
            if content.get("event") == "submit":  # Enter in the text box
                form.model.commit(name)

        text.on_msg(on_msg)
        form._list_widgets[name] = (text, chips)
        return text, chips

    def _check(self, opt: Option) -> widgets.Checkbox:
        form = self.form
        name, label = opt.name, _label(opt)
        box = widgets.Checkbox(
            value=form.model.flags[name],
            description=label,
            indent=False,
            tooltip=opt.help,
            layout=widgets.Layout(width="auto", margin="0 14px 0 0"),
        )
        box.add_class(f"jdb-opt-{label}")
        box.observe(lambda c: form.model.set_flag(name, c["new"]), names="value")
        setattr(form, name, box)
        return box

    def _build_args_group(self) -> list[widgets.Widget]:
        form = self.form
        form._rows_box = widgets.VBox()
        form.add_arg_button = widgets.Button(
            description="build arg", icon="plus", layout=widgets.Layout(width="120px")
        )
        form.add_arg_button.add_class("jdb-add-arg")
        form.add_arg_button.on_click(lambda _b: form.add_build_arg())
        form.args_hint = widgets.HTML()
        form._columns = widgets.HTML(
            '<div class="jdb-col-head" style="display:flex;gap:4px">'
            '<span style="width:194px">NAME</span><span style="width:304px">VALUE</span>'
            "</div>"
        )
        return [
            form._columns,
            form._rows_box,
            widgets.HBox([form.add_arg_button, form.args_hint]),
            widgets.HTML(f'<div class="jdb-warn">{HISTORY_WARNING}</div>'),
        ]

    def _resources_group(self) -> widgets.HBox:
        """Sizes on the left, CPU limits on the right, each with its hint."""
        form = self.form

        def column(opts: list[Option]) -> widgets.VBox:
            rows = []
            for opt in opts:
                hint = widgets.HTML(layout=widgets.Layout(margin="0 0 0 6px", flex="1"))
                hint.add_class("jdb-field-hint")
                form._field_hints[opt.name] = hint
                rows.append(
                    widgets.HBox(
                        [self._text_field(opt), hint], layout=widgets.Layout(align_items="center")
                    )
                )
            return widgets.VBox(rows, layout=widgets.Layout(width="50%"))

        limits = [o for o in TEXT_FIELDS if o.group == "resources"]
        sizes = [o for o in limits if o.kind is Kind.SIZE]
        return widgets.HBox([column(sizes), column([o for o in limits if o not in sizes])])

    def _options_group(self) -> list[widgets.Widget]:
        """The checkboxes, then the texts (network, target) beside the lists."""
        form = self.form
        form.squash_hint = widgets.HTML()
        checks = [self._check(o) for o in FLAG_FIELDS if o.group == "options"]
        texts = [self._text_field(o, width="260px") for o in TEXT_FIELDS if o.group == "options"]
        lists = []
        for opt in LIST_FIELDS:
            if opt.group == "options":
                text, chips = self._list_field(opt, width="150px")
                setattr(form, opt.name, chips)
                setattr(form, f"{opt.name}_input", text)
                lists.append(_labelled(_label(opt), text, chips))
        return [
            widgets.HBox([*checks, form.squash_hint], layout=widgets.Layout(align_items="center")),
            widgets.HBox(
                [
                    widgets.VBox(texts, layout=widgets.Layout(width="40%")),
                    widgets.VBox(lists, layout=widgets.Layout(width="60%")),
                ]
            ),
        ]

    def _actions(self) -> list[widgets.Widget]:
        """Equivalent commands, Build / Cancel, status, progress."""
        form = self.form
        form.commands = widgets.HTML()
        form.build_button = widgets.Button(
            description="Build", icon="play", button_style="primary", tooltip="Start the build"
        )
        form.build_button.add_class("jdb-build-button")
        form.build_button.on_click(lambda _b: form._clicked_build())
        form.cancel_button = widgets.Button(
            description="Cancel",
            icon="stop",
            button_style="danger",
            disabled=True,
            tooltip="Stop the build: the daemon kills the running step",
        )
        form.cancel_button.add_class("jdb-cancel-button")
        form.cancel_button.on_click(lambda _b: form.cancel())
        form.push_button = widgets.Button(
            description="Push", icon="upload", disabled=True, tooltip="Build first"
        )
        form.push_button.add_class("jdb-push-button")
        form.push_button.on_click(lambda _b: form._clicked_push())
        form.push_hint = widgets.HTML()
        form.push_hint.add_class("jdb-push-hint")
        form.status = widgets.HTML(layout=widgets.Layout(flex="1"))
        form.status.add_class("jdb-status-box")
        form.progress_bar = widgets.IntProgress(
            value=0,
            min=0,
            max=1,
            layout=widgets.Layout(width="100%", height="10px", display="none"),
        )
        form.progress = widgets.HTML()
        form.progress.add_class("jdb-progress-html")
        actions = widgets.HBox(
            [form.build_button, form.push_button, form.cancel_button, form.status],
            layout=widgets.Layout(align_items="center", margin="6px 0 2px"),
        )
        return [form.commands, actions, form.push_hint, form.progress_bar, form.progress]


class BuildForm:
    """An interactive ``docker build`` form: fields, Build/Cancel, live progress.

    ``BuildForm(dockerfile, **initial_options)`` takes the same keywords as
    :func:`jupyter_dockerbuild.build` (``tags=[...]``, ``build_args={...}`` or
    ``["K=V", "K"]``, ``memory="512m"``, ``cpus=1.5``, ``no_cache=True`` ...) to pre-fill
    the fields; invalid values are shown flagged rather than raised. Display it (last
    expression of a cell) to use it. ``build()`` / ``cancel()`` / ``wait()`` do from
    Python what the buttons do; ``result`` is the last :class:`BuildResult`.

    The widgets are attributes named like the options: ``memory``, ``cpus``,
    ``no_cache``, ``network``, ``tags`` (chips) and ``tag_input``, ``labels`` and
    ``labels_input`` ...; ``arg_rows`` are the build args; ``model`` holds the state.
    """

    def __init__(
        self,
        dockerfile: str | None = None,
        *,
        host: str | None = None,
        client: Any = None,
        context_dir: str | os.PathLike[str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        line_offset: int = 0,
        tail_lines: int = 6,
        refresh_rate: float = 10.0,
        env: Mapping[str, str] | None = None,
        **initial: Any,
    ) -> None:
        self.model = FormModel(
            dockerfile,
            host=host,
            client=client,
            context_dir=context_dir,
            files=files,
            line_offset=line_offset,
            env=env,
            **initial,
        )
        self.tail_lines = tail_lines
        self.refresh_rate = refresh_rate
        self._uid = f"jdb-form-{next(_FORM_IDS)}"
        self._lock = threading.RLock()
        self._row_views: dict[ArgRow, BuildArgRow] = {}
        self.arg_rows: list[BuildArgRow] = []
        self._field_hints: dict[str, widgets.HTML] = {}
        self._list_widgets: dict[str, tuple[widgets.Text, widgets.TagsInput]] = {}
        _Layout(self).build()
        self.model.on_change(self._render)
        self._render()

    # -- model -> widgets -------------------------------------------------------------------

    def _render(self) -> None:
        """Show the model: values, hints, flagged fields, commands, buttons.

        Setting a widget to the value the model already has is a no-op for the model,
        so the echo of these assignments changes nothing.
        """
        with self._lock:
            error = self.model.check()
            self._render_fields(error)
            self._render_tags()
            self._render_rows()
            self._render_actions(error)

    def _render_fields(self, error: OptionsError | None) -> None:
        m = self.model
        for opt in TEXT_FIELDS:
            box = getattr(self, opt.name)
            box.value = m.text[opt.name]
            if opt.name in self._field_hints:
                self._field_hints[opt.name].value, bad = say.field_hint(m, opt.name, error)
            else:
                bad = say.field_invalid(m, opt.name, error)
            _set_class(box, "jdb-invalid", bad)
        for name, (text, chips) in self._list_widgets.items():
            chips.value = list(m.lists[name])
            text.value = m.pending[name]
            if name != "tags":  # flagged chip by chip, see _render_tags
                bad = error is not None and error.option == name
                _set_class(text, "jdb-invalid", bad)
                _set_class(chips, "jdb-invalid", bad)
        for opt in FLAG_FIELDS:
            getattr(self, opt.name).value = m.flags[opt.name]
        self.squash.disabled, self.squash_hint.value = say.squash_state(m)

    def _render_tags(self) -> None:
        """Flag each invalid tag (its chip turns red) and check the one being typed."""
        hint, css, chips_bad, typed_bad = say.tags_hint(self.model, self._uid)
        self.tags_hint.value = hint
        self._tag_css.value = css
        _set_class(self.tags, "jdb-invalid", chips_bad)
        _set_class(self.tag_input, "jdb-invalid", typed_bad)

    def _render_rows(self) -> None:
        m = self.model
        views = [self._row_views.get(row) or BuildArgRow(row, m.remove_row) for row in m.rows]
        kept = {v.model: v for v in views}
        removed = [v for row, v in self._row_views.items() if row not in kept]
        self._row_views = kept
        self.arg_rows = views
        boxes = tuple(v.box for v in views)
        if self._rows_box.children != boxes:
            self._rows_box.children = boxes
        for view in removed:  # out of the box first, then gone for good
            view.close()
        for view in views:
            view.render(*say.row_note(m, view.model))
        self.args_hint.value = say.args_hint(m)
        self._columns.layout.display = None if m.rows else "none"

    def _render_actions(self, error: OptionsError | None) -> None:
        m = self.model
        self.commands.value = say.commands(m, error)
        state = say.buttons(m, error)
        self.build_button.disabled = state["build_disabled"]
        self.cancel_button.disabled = state["cancel_disabled"]
        self.build_button.tooltip = state["tooltip"]
        disabled, tooltip, reason = say.push_button(m)
        self.push_button.disabled, self.push_button.tooltip = disabled, tooltip
        self.push_hint.value = reason
        self.status.value = say.status(m, error)
        self.daemon_label.value = say.daemon_label(m)
        failure = say.failure(m)
        if failure is not None:
            self.progress.value = failure

    # -- the model's API, for Python callers -----------------------------------------------

    @property
    def dockerfile(self) -> str | None:
        """The Dockerfile text (``None``: the context directory's file)."""
        return self.model.dockerfile

    @property
    def host(self) -> str | None:
        """The daemon this form builds on (``None``: the default one)."""
        return self.model.host

    @property
    def context_dir(self) -> str | os.PathLike[str] | None:
        """The build context directory, if any."""
        return self.model.context_dir

    @property
    def line_offset(self) -> int:
        """Lines before the Dockerfile's first one in the cell (the magic line)."""
        return self.model.line_offset

    @property
    def result(self) -> BuildResult | None:
        """The last build's result (``None`` before the first build ends)."""
        return self.model.runner.result

    @property
    def error(self) -> DockerBuildError | None:
        """Why the last build failed (``None`` if it did not)."""
        return self.model.runner.error

    @property
    def builds(self) -> int:
        """How many builds this form started."""
        return self.model.runner.count

    @property
    def running(self) -> bool:
        """True while a build of this form runs."""
        return self.model.runner.running

    def values(self) -> dict[str, Any]:
        """The fields as keyword arguments of ``BuildOptions.from_user``."""
        return self.model.values()

    @property
    def options(self) -> BuildOptions:
        """The checked options a build would send now; raises :class:`OptionsError`."""
        return self.model.options

    @property
    def invalid_reason(self) -> str | None:
        """Why Build is disabled (the OptionsError message), or ``None`` when valid."""
        error = self.model.check()
        return None if error is None else str(error)

    @property
    def magic_line(self) -> str:
        """The equivalent ``%%dockerbuild`` line (secrets as bare names)."""
        return self.model.magic_line()

    @property
    def command(self) -> str:
        """The equivalent ``docker build`` command (secrets as bare names)."""
        return self.model.command()

    def add_build_arg(
        self, name: str = "", value: str | None = None, *, secret: bool = False
    ) -> BuildArgRow:
        """Add a build arg row (what the "+ build arg" button does); return it.

        A name the Dockerfile declares fills that ARG's row instead of adding one.
        """
        row = self.model.add_build_arg(name, value, secret=secret)
        return self._row_views[row]

    def refresh_daemon_info(self) -> dict[str, Any] | None:
        """Ask the daemon's ``/info`` once (cached); ``None`` if it cannot be reached.

        Called on a background thread when the form is first displayed, so a slow or
        absent daemon never blocks the cell; an unreachable one only shows a note.
        """
        return self.model.daemon.fetch()

    # -- building -------------------------------------------------------------------------

    def _clicked_build(self) -> None:
        try:
            self.build()
        except DockerBuildError as exc:  # a click has no cell to fail: show it
            self.model.runner.error = exc
            self.model.changed()

    def _clicked_push(self) -> None:
        try:
            self.push()
        except (DockerBuildError, RuntimeError) as exc:  # a click has no cell to fail
            self.push_hint.value = say.hint(html.escape(str(exc)), "err")

    def _new_progress(self) -> LiveView:
        self.progress_bar.layout.display = None
        self.progress_bar.value = 0
        self.progress_bar.bar_style = "info"
        self.progress.value = ""
        # No "interrupt the kernel" hint: the Cancel button does that job here (and an
        # interrupt would not reach a background thread).
        return LiveView(
            tail_lines=self.tail_lines,
            refresh_rate=self.refresh_rate,
            cancel_hint=None,
            target=self.progress,
            bar=self.progress_bar,
        )

    def build(self) -> None:
        """Start a build with the current fields on a background thread; return at once.

        Raises :class:`OptionsError` (the reason Build is disabled) when a field is
        invalid, and :class:`RuntimeError` if this form is already building.
        """
        self.model.build(self._new_progress)

    def push(self) -> None:
        """Push the last build's tags on the background thread (the Push button).

        Progress shows under the build's steps; ``wait()`` returns the result with the
        digests (``result.pushed``). Raises :class:`~jupyter_dockerbuild.errors.PushError`
        with the reason Push is disabled, :class:`RuntimeError` if a build or push runs.
        """
        self.model.push(self._new_progress)

    def cancel(self) -> None:
        """Cancel the running build or push: close the connection; the daemon stops it."""
        self.model.runner.cancel()

    def wait(self, timeout: float | None = None, *, check: bool = False) -> BuildResult | None:
        """Wait for the running build (if any) and return the last result.

        Raises :class:`TimeoutError` if it is still running after ``timeout`` seconds;
        with ``check=True`` also raises the build's error if it failed or was cancelled.
        """
        return self.model.runner.wait(timeout, check=check)

    # -- display --------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Display the form's widget (and ask the daemon, once, in the background)."""
        self.model.daemon.ask_later()
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        return {**bundle, "text/plain": repr(self)}

    def __repr__(self) -> str:
        error = self.model.check()
        if error is not None:
            return f"<BuildForm invalid: {error}>"
        return f"<BuildForm {self.options!r}>"
