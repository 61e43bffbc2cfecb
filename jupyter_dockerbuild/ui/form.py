"""The interactive build form: tags, build args, resource limits and options as widgets.

``%%dockerbuild --form`` (or :class:`BuildForm` from Python) shows the ``docker build``
flags as fields above a progress area. Wiring only: every change goes through
:meth:`BuildOptions.from_user <jupyter_dockerbuild.options.BuildOptions.from_user>`, so
the form validates exactly like the magic does and the Build button is disabled with
that message while something is wrong. The build runs through
:func:`~jupyter_dockerbuild.builder.run_build` on a background thread, so the cell
returns at once, the notebook stays responsive and Cancel is handled immediately (it
closes the connection, which makes the daemon kill the build container). Progress is
drawn with :func:`~jupyter_dockerbuild.widget.render_html` inside the form.

Secret build args: the value is typed into a password field whose ``value`` is cleared
as soon as it reaches the kernel and is never echoed back, so it lives only in this
object, never in the widget state a notebook saves, the equivalent commands, the
progress view or a repr (``BuildOptions.secret_args`` masks it).
"""

from __future__ import annotations

import html
import itertools
import os
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import ipywidgets as widgets
from traitlets import Unicode

from ..builder.dockerfile import DeclaredArg, declared_args, parse
from ..builder.options import FLAGS, MIN_MEMORY, BuildOptions, parse_size, validate_tag
from ..builder.state import BuildResult
from ..errors import BuildError, DockerBuildError, OptionsError
from ..units import format_size

__all__ = ["BuildArgRow", "BuildForm", "DeclaredArg", "cpus_to_cfs", "declared_args"]

#: The CFS period ``--cpus`` uses in the docker CLI (100 ms).
CPU_PERIOD = 100_000

HISTORY_WARNING = (
    "⚠ Build args are stored in the image: anyone who has it can read them with "
    "<code>docker history</code>, and a <code>RUN</code> that prints one puts it in the "
    "log. <b>secret</b> keeps a value out of this notebook, the commands and the progress "
    "view, not out of the image."
)
SECRET_SET = "●●●●●● hidden, kept in the kernel"
SECRET_EMPTY = "secret: hidden once entered"

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


# -- pure helpers -------------------------------------------------------------------


def cpus_to_cfs(cpus: str | float) -> tuple[int, int]:
    """``--cpus 1.5`` as the ``(cpu_period, cpu_quota)`` the classic builder takes.

    Like the docker CLI: a 100 ms period and a quota of ``cpus`` times that.
    """
    if isinstance(cpus, str):
        text = cpus.strip()
        try:
            value = float(text)
        except ValueError:
            raise OptionsError(
                f"--cpus: {cpus!r} is not a number of CPUs; use e.g. 1, 1.5 or 0.25"
            ) from None
    else:
        value = float(cpus)
    quota = round(value * CPU_PERIOD)
    if not value > 0 or quota < 1000:
        raise OptionsError(f"--cpus: {cpus!r} must be at least 0.01")
    return CPU_PERIOD, quota


def _fmt_cpus(period: int, quota: int) -> str:
    return f"{quota / period:.3f}".rstrip("0").rstrip(".")


def _hint(text: str, kind: str = "hint") -> str:
    return f'<span class="jdb-{kind}">{text}</span>'


def _cli_box(label: str, css: str, text: str) -> str:
    """A read-only text area (select and copy), tall enough for ``text``."""
    rows = min(6, len(text) // 110 + 1)
    return (
        f'<div class="jdb-cli-label">{html.escape(label)}</div>'
        f'<textarea class="jdb-cli {css}" readonly rows="{rows}" spellcheck="false">'
        f"{html.escape(text)}</textarea>"
    )


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
    """One build arg of the form: NAME, VALUE (masked when secret), a secret toggle.

    ``value`` holds a plain value; a secret one is typed into ``secret_input`` and moved
    at once into this object (never a widget trait). An empty value is not sent, so a
    declared ARG keeps the Dockerfile's default.
    """

    def __init__(
        self,
        on_change: Callable[[], None],
        on_remove: Callable[[BuildArgRow], None],
        *,
        name: str = "",
        value: str | None = None,
        secret: bool = False,
        declared: DeclaredArg | None = None,
        from_env: bool = False,
    ) -> None:
        self._on_change = on_change
        self.declared = declared
        self._secret_value: str | None = None
        if declared is None:
            default_hint = "value"
        elif declared.default is None:
            default_hint = "no default (empty)"
        else:
            default_hint = f"default: {declared.default}"
        self.default_hint = default_hint
        self.name = widgets.Text(
            value=name,
            placeholder="NAME",
            disabled=declared is not None,
            layout=widgets.Layout(width="190px"),
        )
        self.name.add_class("jdb-arg-name")
        self.value = widgets.Text(placeholder=default_hint, layout=widgets.Layout(width="300px"))
        self.value.add_class("jdb-arg-value")
        self.secret_input = _SecretInput(
            placeholder=SECRET_EMPTY,
            continuous_update=False,  # send once (Enter or blur), not per keystroke
            layout=widgets.Layout(width="300px"),
        )
        self.secret_input.add_class("jdb-arg-secret")
        self.secret = widgets.ToggleButton(
            value=False,
            description="secret",
            icon="unlock",
            tooltip="Mask the value and keep it out of the saved notebook, the commands "
            "and the log (turning it off forgets the hidden value)",
            layout=widgets.Layout(width="92px"),
        )
        self.secret.add_class("jdb-arg-toggle")
        if declared is None:
            self.remove = widgets.Button(
                icon="trash", tooltip="Remove this build arg", layout=widgets.Layout(width="36px")
            )
        else:
            self.remove = widgets.Button(
                icon="eraser",
                tooltip="Clear: use the Dockerfile's default",
                layout=widgets.Layout(width="36px"),
            )
        self.remove.on_click(lambda _b: on_remove(self))
        where = f"ARG on line {declared.line}" if declared is not None else ""
        self.note = widgets.HTML(_hint(where))
        self.box = widgets.HBox(
            [self.name, self.value, self.secret, self.remove, self.note],
            layout=widgets.Layout(align_items="center"),
        )
        self.box.add_class("jdb-arg-row")
        if secret:
            self.secret.value = True
            self._show_secret(True)
            self._secret_value = value
            if value is not None:
                self.secret_input.placeholder = (
                    f"●●●●●● from ${name} (environment)" if from_env else SECRET_SET
                )
            elif from_env:
                self.secret_input.placeholder = f"${name} is not set: the default applies"
        else:
            self.value.value = value or ""
        self.name.observe(self._changed, names="value")
        self.value.observe(self._changed, names="value")
        self.secret_input.observe(self._secret_typed, names="value")
        self.secret.observe(self._secret_toggled, names="value")

    # -- reading ----------------------------------------------------------------------

    @property
    def is_secret(self) -> bool:
        """True if the value is masked and kept kernel-side."""
        return bool(self.secret.value)

    def get(self) -> tuple[str, str | None]:
        """``(name, value)``; ``value`` is ``None`` when empty (not sent)."""
        value = self._secret_value if self.is_secret else self.value.value
        return self.name.value.strip(), (value if value else None)

    def set_secret(self, value: str) -> None:
        """Set a secret value from Python (marks the row secret)."""
        self.secret.value = True
        self._store_secret(value)

    def clear(self) -> None:
        """Empty the value (and the secret toggle)."""
        self.secret.value = False
        self.value.value = ""
        self._secret_value = None

    # -- events -----------------------------------------------------------------------

    def _changed(self, _change: Any = None) -> None:
        self._on_change()

    def _store_secret(self, value: str) -> None:
        self._secret_value = value or None
        self.secret_input.value = ""
        self.secret_input.placeholder = SECRET_SET if value else SECRET_EMPTY
        self._on_change()

    def _secret_typed(self, change: Any) -> None:
        if change["new"]:  # the "" we set below comes back here too: ignore it
            self._store_secret(change["new"])

    def _show_secret(self, secret: bool) -> None:
        children = list(self.box.children)
        children[1] = self.secret_input if secret else self.value
        self.box.children = tuple(children)
        self.secret.icon = "lock" if secret else "unlock"
        self.secret.button_style = "warning" if secret else ""

    def _secret_toggled(self, change: Any) -> None:
        if change["new"]:
            # Plain -> secret: the value moves out of the synced Text into the kernel.
            plain = self.value.value
            self.value.value = ""
            self._show_secret(True)
            if plain:
                self._store_secret(plain)
        else:
            # Secret -> plain: forget the hidden value rather than reveal it.
            self._secret_value = None
            self.secret_input.value = ""
            self.secret_input.placeholder = SECRET_EMPTY
            self._show_secret(False)
        self._on_change()


# -- the progress view inside the form ----------------------------------------------------


class _FormProgress:
    """A builder ``View`` drawing into the form's own HTML widget and progress bar.

    Throttled like the notebook widget view; a heartbeat keeps the timer moving during
    silent steps. Both the build thread and the heartbeat draw, under one lock.
    """

    def __init__(
        self,
        html_widget: widgets.HTML,
        bar: widgets.IntProgress,
        *,
        tail_lines: int,
        refresh_rate: float,
    ) -> None:
        self.html = html_widget
        self.bar = bar
        self.tail_lines = tail_lines
        self.min_interval = 1.0 / max(refresh_rate, 0.1)
        self._lock = threading.RLock()
        self._last = 0.0
        self._state: Any = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _draw(self, state: Any, *, final: bool = False) -> None:
        from .html import render_html

        with self._lock:
            if not final and self._stop.is_set():
                return  # a heartbeat that woke as the build ended: keep the final view
            total = state.total_steps or len(state.steps) or 1
            done = sum(1 for s in state.steps if s.status in ("done", "cached"))
            try:
                # No "interrupt the kernel" hint: the Cancel button does that job here
                # (and an interrupt would not reach a background thread).
                value = render_html(
                    state, tail_lines=self.tail_lines, final=final, cancel_hint=None
                )
            except RuntimeError:  # a deque mutated under the heartbeat: next tick redraws
                return
            with self.bar.hold_sync():
                self.bar.max = total
                self.bar.value = total if state.status == "succeeded" else done
                self.bar.bar_style = {
                    "succeeded": "success",
                    "failed": "danger",
                    "cancelled": "warning",
                }.get(state.status, "info")
            self.html.value = value
            self._last = time.monotonic()

    def _heartbeat(self) -> None:
        while not self._stop.wait(0.5):
            if self._state is not None and time.monotonic() - self._last >= 0.45:
                self._draw(self._state)

    def update(self, state: Any) -> None:
        """Redraw if the last redraw is older than the throttle interval."""
        with self._lock:
            if self._beat is None:
                self._state = state
                self._beat = threading.Thread(
                    target=self._heartbeat, name="dockerbuild-form-heartbeat", daemon=True
                )
                self._beat.start()
                self._draw(state)
            elif time.monotonic() - self._last >= self.min_interval:
                self._draw(state)

    def close(self, state: Any) -> None:
        """Draw the final state (steps, result, collapsible log)."""
        self._stop.set()
        self._draw(state, final=True)
        self.bar.layout.display = "none"  # the final view draws its own bar


# -- the form ---------------------------------------------------------------------------

#: Initial-value keywords the form accepts besides the BuildOptions field names.
_EXTRA_KEYWORDS = {"cpus", "tag", "file"}
#: Options without a field of their own: passed through to every build unchanged.
_PASSTHROUGH = ("dockerfile", "platform", "isolation", "remote")


class BuildForm:
    """An interactive ``docker build`` form: fields, Build/Cancel, live progress.

    ``BuildForm(dockerfile, **initial_options)`` takes the same keywords as
    :func:`jupyter_dockerbuild.build` (``tags=[...]``, ``build_args={...}`` or
    ``["K=V", "K"]``, ``memory="512m"``, ``cpus=1.5``, ``no_cache=True`` ...) to pre-fill
    the fields; invalid values are shown flagged rather than raised. Display it (last
    expression of a cell) to use it. ``build()`` / ``cancel()`` / ``wait()`` do from
    Python what the buttons do; ``result`` is the last :class:`BuildResult`.
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
        known = {f.name for f in fields(BuildOptions)} - {"registry_config"}
        unknown = sorted(set(initial) - known - _EXTRA_KEYWORDS)
        if unknown:
            raise OptionsError(
                f"unknown build option(s) {', '.join(unknown)}; valid options are "
                + ", ".join(sorted((known | _EXTRA_KEYWORDS) - {"secret_args"}))
            )
        if context_dir is not None and dockerfile is not None:
            if not parse(dockerfile).instructions:
                # Like the magic: a cell with no instructions uses the context's file.
                dockerfile = None
        self.dockerfile = dockerfile
        self.host = host
        self.context_dir = context_dir
        self.files = files
        self.line_offset = line_offset
        self.tail_lines = tail_lines
        self.refresh_rate = refresh_rate
        self._env = os.environ if env is None else env
        self._client = client
        self._uid = f"jdb-form-{next(_FORM_IDS)}"
        self._lock = threading.RLock()
        self._refreshing = False
        self._syncing_cpus = False
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._response: Any = None
        self._info: dict[str, Any] | None = None
        self._info_error: str | None = None
        self._info_started = False
        self._info_lock = threading.Lock()
        self.result: BuildResult | None = None
        self.error: DockerBuildError | None = None
        self.builds = 0
        self._passthrough = {k: initial[k] for k in _PASSTHROUGH if initial.get(k) is not None}
        if initial.get("file"):
            self._passthrough["dockerfile"] = initial["file"]
        # Read and parsed once: the title, the ARG rows and every check use this parse.
        text = self._dockerfile_text()
        self._parsed = parse(text or "")
        self._declared = declared_args(text)
        self._build_widgets(initial)
        self._refresh()

    # -- building the widgets -------------------------------------------------------------

    def _text(
        self, name: str, value: Any, placeholder: str, *, width: str = "196px"
    ) -> widgets.Text:
        box = widgets.Text(
            value="" if value is None else str(value),
            description=name,
            placeholder=placeholder,
            style={"description_width": "100px"},
            layout=widgets.Layout(width=width, min_width=width),
        )
        box.add_class(f"jdb-field-{name.replace(' ', '-')}")
        box.observe(self._changed, names="value")
        return box

    def _list_field(
        self, values: Any, placeholder: str, css: str, *, width: str
    ) -> tuple[widgets.Text, widgets.TagsInput]:
        """A text box checked as it is typed, whose Enter adds a removable chip.

        The chips are a ``TagsInput``; its own input is hidden (CSS) because in
        Chromium it commits on blur only, not on Enter: the text box does both.
        """
        if isinstance(values, str):
            values = [values]
        elif isinstance(values, Mapping):
            values = [f"{k}={v}" for k, v in values.items()]
        chips = widgets.TagsInput(
            value=[str(v) for v in (values or [])],
            allow_duplicates=False,
            layout=widgets.Layout(flex="1", min_height="30px"),
        )
        chips.add_class(css)
        chips.add_class("jdb-chips")
        chips.observe(self._changed, names="value")
        text = widgets.Text(
            placeholder=placeholder,
            continuous_update=True,
            layout=widgets.Layout(width=width, min_width=width),
        )
        text.add_class(f"{css}-input")
        text.observe(self._changed, names="value")

        def on_msg(_widget: Any, content: dict[str, Any], _buffers: Any) -> None:
            if content.get("event") == "submit":  # Enter in the text box
                self._commit(text, chips)

        text.on_msg(on_msg)
        return text, chips

    def _commit(self, text: widgets.Text, chips: widgets.TagsInput) -> None:
        """Move what was typed into a chip (invalid ones too: they are flagged)."""
        value = text.value.strip()
        if value and value not in chips.value:
            chips.value = [*chips.value, value]
        text.value = ""

    def _check(self, description: str, value: bool, tooltip: str) -> widgets.Checkbox:
        box = widgets.Checkbox(
            value=bool(value),
            description=description,
            indent=False,
            tooltip=tooltip,
            layout=widgets.Layout(width="auto", margin="0 14px 0 0"),
        )
        box.add_class(f"jdb-opt-{description}")
        box.observe(self._changed, names="value")
        return box

    def _build_widgets(self, initial: dict[str, Any]) -> None:
        def flag_value(name: str, default: bool) -> bool:
            from ..builder.options import parse_bool

            value = initial.get(name)
            if value is None:
                return default
            try:
                return parse_bool(value, FLAGS[name])
            except OptionsError:
                return default

        self._style = widgets.HTML(f"<style>{_CSS}</style>")
        self._tag_css = widgets.HTML("")
        n_steps = len(self._parsed.instructions)
        base = next(
            (
                ins.text.split(None, 1)[1]
                for ins in self._parsed.instructions
                if ins.keyword == "FROM" and len(ins.text.split()) > 1
            ),
            None,
        )
        sub = f"{n_steps} instruction{'s' if n_steps != 1 else ''}"
        if base:
            sub += f" · FROM {html.escape(base)}"
        self._title = widgets.HTML(
            f'<span class="jdb-title"><i class="fa fa-cube"></i> docker build</span> '
            f'<span class="jdb-sub">{sub}</span>'
        )
        self.daemon_label = widgets.HTML(_hint("daemon: not asked yet"))
        header = widgets.HBox(
            [self._title, self.daemon_label],
            layout=widgets.Layout(justify_content="space-between", align_items="baseline"),
        )

        # Tags
        tags = initial.get("tags", initial.get("tag"))
        self.tag_input, self.tags = self._list_field(
            tags, "name:tag, then Enter", "jdb-tags", width="260px"
        )
        self.tags_hint = widgets.HTML()

        # Build args: the Dockerfile's ARGs first, then the rest given, then added rows.
        self.arg_rows: list[BuildArgRow] = []
        given, secret, from_env = self._initial_build_args(initial)
        for decl in self._declared:
            self._new_row(
                name=decl.name,
                value=given.pop(decl.name, None),
                secret=decl.name in secret,
                declared=decl,
                from_env=decl.name in from_env,
            )
        for name, value in given.items():
            self._new_row(name=name, value=value, secret=name in secret, from_env=name in from_env)
        self._rows_box = widgets.VBox([r.box for r in self.arg_rows])
        self.add_arg_button = widgets.Button(
            description="build arg", icon="plus", layout=widgets.Layout(width="120px")
        )
        self.add_arg_button.add_class("jdb-add-arg")
        self.add_arg_button.on_click(lambda _b: self.add_build_arg())
        self.args_hint = widgets.HTML()
        self._columns = widgets.HTML(
            '<div class="jdb-col-head" style="display:flex;gap:4px">'
            '<span style="width:194px">NAME</span><span style="width:304px">VALUE</span>'
            "</div>"
        )
        warning = widgets.HTML(f'<div class="jdb-warn">{HISTORY_WARNING}</div>')

        # Resource limits
        cpus = initial.get("cpus")
        period, quota = initial.get("cpu_period"), initial.get("cpu_quota")
        if cpus is None and period and quota:
            try:
                cpus = _fmt_cpus(int(period), int(quota))
            except (TypeError, ValueError, ZeroDivisionError):
                cpus = None
        elif cpus is not None and period is None and quota is None:
            try:
                period, quota = cpus_to_cfs(cpus)
            except OptionsError:
                pass
        self.memory = self._text("memory", initial.get("memory"), "e.g. 512m, 2g")
        self.memory_swap = self._text("memory-swap", initial.get("memory_swap"), "1g, or -1")
        self.shm_size = self._text("shm-size", initial.get("shm_size"), "default 64m")
        self.cpus = self._text("cpus", cpus, "e.g. 1.5")
        self.cpu_period = self._text("cpu-period", period, "µs, e.g. 100000")
        self.cpu_quota = self._text("cpu-quota", quota, "µs, e.g. 150000")
        self.cpu_shares = self._text("cpu-shares", initial.get("cpu_shares"), "default 1024")
        self.cpuset_cpus = self._text("cpuset-cpus", initial.get("cpuset_cpus"), "e.g. 0-1")
        self._field_hints: dict[str, widgets.HTML] = {}

        def column(*names: str) -> widgets.VBox:
            rows = []
            for name in names:
                hint = widgets.HTML(layout=widgets.Layout(margin="0 0 0 6px", flex="1"))
                hint.add_class("jdb-field-hint")
                self._field_hints[name] = hint
                rows.append(
                    widgets.HBox(
                        [getattr(self, name), hint], layout=widgets.Layout(align_items="center")
                    )
                )
            return widgets.VBox(rows, layout=widgets.Layout(width="50%"))

        resources = widgets.HBox(
            [
                column("memory", "memory_swap", "shm_size"),
                column("cpus", "cpu_period", "cpu_quota", "cpu_shares", "cpuset_cpus"),
            ]
        )

        # Options
        self.no_cache = self._check(
            "no-cache", flag_value("no_cache", False), "Do not use the build cache"
        )
        self.pull = self._check(
            "pull", flag_value("pull", False), "Always try to pull a newer base image"
        )
        self.rm = self._check(
            "rm", flag_value("rm", True), "Remove intermediate containers after a success"
        )
        force_default = flag_value("rm", True) if initial.get("force_rm") is None else True
        self.force_rm = self._check(
            "force-rm",
            flag_value("force_rm", force_default),
            "Always remove intermediate containers, even after a failure",
        )
        self.quiet = self._check(
            "quiet", flag_value("quiet", False), "Suppress the build output; only the image id"
        )
        self.squash = self._check(
            "squash",
            flag_value("squash", False),
            "Squash the new layers into one (needs an experimental daemon)",
        )
        self.squash_hint = widgets.HTML()
        self.network = widgets.Combobox(
            value=initial.get("network") or "",
            options=["default", "none", "host", "bridge"],
            ensure_option=False,
            description="network",
            placeholder="default",
            style={"description_width": "100px"},
            layout=widgets.Layout(width="260px"),
        )
        self.network.observe(self._changed, names="value")
        self.target = self._text("target", initial.get("target"), "last stage", width="260px")
        self.extra_hosts_input, self.extra_hosts = self._list_field(
            initial.get("extra_hosts"), "host:ip ⏎", "jdb-hosts", width="150px"
        )
        self.labels_input, self.labels = self._list_field(
            initial.get("labels"), "key=value ⏎", "jdb-labels", width="150px"
        )
        self.cache_from_input, self.cache_from = self._list_field(
            initial.get("cache_from"), "image ⏎", "jdb-cache", width="150px"
        )
        checks = widgets.HBox(
            [
                self.no_cache,
                self.pull,
                self.rm,
                self.force_rm,
                self.quiet,
                self.squash,
                self.squash_hint,
            ],
            layout=widgets.Layout(align_items="center"),
        )
        options = widgets.HBox(
            [
                widgets.VBox([self.network, self.target], layout=widgets.Layout(width="40%")),
                widgets.VBox(
                    [
                        self._labelled("add-host", self.extra_hosts_input, self.extra_hosts),
                        self._labelled("label", self.labels_input, self.labels),
                        self._labelled("cache-from", self.cache_from_input, self.cache_from),
                    ],
                    layout=widgets.Layout(width="60%"),
                ),
            ]
        )

        # Equivalent commands, Build / Cancel, status, progress
        self.commands = widgets.HTML()
        self.build_button = widgets.Button(
            description="Build", icon="play", button_style="primary", tooltip="Start the build"
        )
        self.build_button.add_class("jdb-build-button")
        self.build_button.on_click(lambda _b: self._clicked_build())
        self.cancel_button = widgets.Button(
            description="Cancel",
            icon="stop",
            button_style="danger",
            disabled=True,
            tooltip="Stop the build: the daemon kills the running step",
        )
        self.cancel_button.add_class("jdb-cancel-button")
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.status = widgets.HTML(layout=widgets.Layout(flex="1"))
        self.status.add_class("jdb-status-box")
        actions = widgets.HBox(
            [self.build_button, self.cancel_button, self.status],
            layout=widgets.Layout(align_items="center", margin="6px 0 2px"),
        )
        self.progress_bar = widgets.IntProgress(
            value=0,
            min=0,
            max=1,
            layout=widgets.Layout(width="100%", height="10px", display="none"),
        )
        self.progress = widgets.HTML()
        self.progress.add_class("jdb-progress-html")

        self.widget = widgets.VBox(
            [
                self._style,
                self._tag_css,
                header,
                self._heading("Tags"),
                widgets.HBox([self.tag_input, self.tags]),
                self.tags_hint,
                self._heading("Build args"),
                self._columns,
                self._rows_box,
                widgets.HBox([self.add_arg_button, self.args_hint]),
                warning,
                self._heading("Resource limits (of the RUN steps)"),
                resources,
                self._heading("Options"),
                checks,
                options,
                self._heading("Equivalent command"),
                self.commands,
                actions,
                self.progress_bar,
                self.progress,
            ]
        )
        self.widget.add_class("jdb-form")
        self.widget.add_class(self._uid)

    @staticmethod
    def _heading(text: str) -> widgets.HTML:
        return widgets.HTML(f'<div class="jdb-h">{html.escape(text)}</div>')

    @staticmethod
    def _labelled(label: str, *items: widgets.Widget) -> widgets.HBox:
        head = widgets.HTML(
            f'<span style="display:inline-block;width:80px;text-align:right;'
            f'padding-right:6px">{html.escape(label)}</span>',
            layout=widgets.Layout(width="88px", min_width="88px"),
        )
        return widgets.HBox([head, *items], layout=widgets.Layout(align_items="center"))

    def _initial_build_args(
        self, initial: dict[str, Any]
    ) -> tuple[dict[str, str | None], set[str], set[str]]:
        """Given build args as ``{name: value}``, the secret names, the ones from env."""
        raw = initial.get("build_args")
        secret = set(initial.get("secret_args") or ())
        from_env: set[str] = set()
        given: dict[str, str | None] = {}
        if isinstance(raw, Mapping):
            given = {str(k): (None if v is None else str(v)) for k, v in raw.items()}
        elif isinstance(raw, str):
            raw = [raw]
        if raw is not None and not isinstance(raw, Mapping):
            for item in raw:
                key, sep, value = str(item).partition("=")
                if sep:
                    given[key] = value
                else:
                    # Like the docker CLI: a bare NAME takes the kernel's environment
                    # value, which is never displayed.
                    given[key] = self._env.get(key)
                    secret.add(key)
                    from_env.add(key)
        return given, secret, from_env

    def _new_row(self, **kwargs: Any) -> BuildArgRow:
        row = BuildArgRow(self._changed, self._remove_row, **kwargs)
        self.arg_rows.append(row)
        return row

    def _remove_row(self, row: BuildArgRow) -> None:
        if row.declared is not None:
            row.clear()
            return
        self.arg_rows.remove(row)
        self._rows_box.children = tuple(r.box for r in self.arg_rows)
        self._refresh()

    def add_build_arg(
        self, name: str = "", value: str | None = None, *, secret: bool = False
    ) -> BuildArgRow:
        """Add a build arg row (what the "+ build arg" button does); return it.

        A name the Dockerfile declares fills that ARG's row instead of adding one.
        """
        row = next((r for r in self.arg_rows if name and r.name.value == name), None)
        if row is None:
            row = self._new_row(name=name)
            self._rows_box.children = tuple(r.box for r in self.arg_rows)
        if secret and value is not None:
            row.set_secret(value)
        elif secret:
            row.secret.value = True
        elif value is not None:
            row.secret.value = False
            row.value.value = value
        self._refresh()
        return row

    # -- reading the fields -----------------------------------------------------------------

    def _dockerfile_text(self) -> str | None:
        if self.dockerfile is not None:
            return self.dockerfile
        if self.context_dir is not None:  # the cell is empty: the context has it
            path = os.path.join(
                os.fspath(self.context_dir), self._passthrough.get("dockerfile", "Dockerfile")
            )
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    return fh.read()
            except OSError:
                return None
        return None

    def values(self) -> dict[str, Any]:
        """The fields as keyword arguments of ``BuildOptions.from_user``.

        Only the rows are checked here (a value without a name, a name twice, both an
        :class:`OptionsError`); ``from_user`` checks the rest.
        """
        args: dict[str, str | None] = {}
        secret: set[str] = set()
        for row in self.arg_rows:
            name, value = row.get()
            if not name:
                if value is not None:
                    raise OptionsError("--build-arg: a row has a value but no name")
                continue
            if name in args:
                raise OptionsError(f"--build-arg: {name} is set in two rows")
            if value is None:
                continue  # empty: not sent, the Dockerfile's default applies
            args[name] = value
            if row.is_secret:
                secret.add(name)
        network = self.network.value.strip()
        values: dict[str, Any] = {
            "tags": self._list_value(self.tag_input, self.tags),
            "build_args": args,
            "secret_args": secret,
            "labels": self._list_value(self.labels_input, self.labels),
            "extra_hosts": self._list_value(self.extra_hosts_input, self.extra_hosts),
            "cache_from": self._list_value(self.cache_from_input, self.cache_from),
            "memory": self.memory.value.strip() or None,
            "memory_swap": self.memory_swap.value.strip() or None,
            "shm_size": self.shm_size.value.strip() or None,
            "cpu_shares": self.cpu_shares.value.strip() or None,
            "cpuset_cpus": self.cpuset_cpus.value.strip() or None,
            "cpu_period": self.cpu_period.value.strip() or None,
            "cpu_quota": self.cpu_quota.value.strip() or None,
            "network": None if network in ("", "default") else network,
            "target": self.target.value.strip() or None,
            "no_cache": self.no_cache.value,
            "pull": self.pull.value,
            "rm": self.rm.value,
            "force_rm": self.force_rm.value,
            "quiet": self.quiet.value,
            "squash": self.squash.value,
        }
        values.update(self._passthrough)
        return values

    @staticmethod
    def _list_value(text: widgets.Text, chips: widgets.TagsInput) -> list[str]:
        # What is typed but not yet added counts too: what you see is what is sent.
        pending = text.value.strip()
        return [*chips.value, pending] if pending and pending not in chips.value else [*chips.value]

    @property
    def options(self) -> BuildOptions:
        """The checked options a build would send now; raises :class:`OptionsError`."""
        if self.cpus.value.strip():
            cpus_to_cfs(self.cpus.value)
        options = BuildOptions.from_user(env=self._env, **self.values())
        info = self._info
        if options.squash and info is not None and not info.get("ExperimentalBuild"):
            raise OptionsError(
                "--squash needs a daemon started with --experimental; this one is not "
                "(untick squash)"
            )
        has_dockerfile = bool(self._parsed.instructions)
        if not has_dockerfile and not options.remote:
            raise OptionsError(
                "there is no Dockerfile: write at least a FROM line in the cell, below "
                "%%dockerbuild --form"
            )
        return options

    @property
    def invalid_reason(self) -> str | None:
        """Why Build is disabled (the OptionsError message), or ``None`` when valid."""
        try:
            _ = self.options
        except OptionsError as exc:
            return str(exc)
        return None

    @property
    def magic_line(self) -> str:
        """The equivalent ``%%dockerbuild`` line (secrets as bare names)."""
        return self._magic_line(self.options)

    @property
    def command(self) -> str:
        """The equivalent ``docker build`` command (secrets as bare names)."""
        return self._command(self.options)

    def _magic_line(self, options: BuildOptions) -> str:
        line = options.to_cli(magic=True)
        if self.context_dir is not None:
            line += f" --context {shlex.quote(os.fspath(self.context_dir))}"
        if self.host:
            line += f" -H {shlex.quote(self.host)}"
        return line

    def _command(self, options: BuildOptions) -> str:
        cmd = options.to_cli()
        if self.host:
            cmd = cmd.replace("docker build", f"docker -H {shlex.quote(self.host)} build", 1)
        if self.context_dir is not None and cmd.endswith(" -"):
            cmd = cmd[:-2] + f" -f - {shlex.quote(os.fspath(self.context_dir))}"
        return cmd

    # -- live validation --------------------------------------------------------------------

    def _changed(self, change: Any = None) -> None:
        if change is not None and getattr(change, "owner", None) in (
            self.cpus,
            self.cpu_period,
            self.cpu_quota,
        ):
            self._sync_cpus(change.owner)
        self._refresh()

    def _sync_cpus(self, owner: widgets.Text) -> None:
        """Keep ``cpus`` and ``cpu-period``/``cpu-quota`` in step, both ways."""
        if self._syncing_cpus:
            return
        self._syncing_cpus = True
        try:
            if owner is self.cpus:
                text = self.cpus.value.strip()
                if not text:
                    self.cpu_period.value = self.cpu_quota.value = ""
                    return
                try:
                    period, quota = cpus_to_cfs(text)
                except OptionsError:
                    return  # flagged by _refresh; period/quota keep the last good value
                self.cpu_period.value, self.cpu_quota.value = str(period), str(quota)
            else:
                try:
                    period = int(self.cpu_period.value)
                    quota = int(self.cpu_quota.value)
                    self.cpus.value = _fmt_cpus(period, quota) if period > 0 and quota > 0 else ""
                except ValueError:
                    self.cpus.value = ""
        finally:
            self._syncing_cpus = False

    def _size_hint(self, name: str, flag: str, *, unlimited: bool = False) -> tuple[str, bool]:
        text = getattr(self, name).value.strip()
        if not text:
            return {
                "memory": _hint("no limit"),
                "memory_swap": _hint("unset: swap = memory"),
                "shm_size": _hint("default 64MiB"),
            }[name], True
        try:
            size = parse_size(text, flag, allow_unlimited=unlimited)
        except OptionsError as exc:
            return _hint("✗ " + html.escape(str(exc)), "err"), False
        if size == -1:
            return _hint("= <code>-1</code>: unlimited swap", "ok"), True
        assert size is not None
        return _hint(f"= <code>{size:,}</code> B ({format_size(size)})", "ok"), True

    def _field_hints_update(self, reason: str | None) -> None:
        hints = self._field_hints
        info = self._info or {}
        hints["memory"].value, _ = self._size_hint("memory", FLAGS["memory"])
        hints["memory_swap"].value, _ = self._size_hint(
            "memory_swap", FLAGS["memory_swap"], unlimited=True
        )
        hints["shm_size"].value, _ = self._size_hint("shm_size", FLAGS["shm_size"])
        if self.memory.value.strip():
            try:
                mem = parse_size(self.memory.value, FLAGS["memory"])
            except OptionsError:
                mem = None
            if mem is not None and mem < MIN_MEMORY:
                hints["memory"].value = _hint(
                    f"✗ {format_size(mem)} is below Docker's minimum of 6MiB", "err"
                )
        ncpu = info.get("NCPU")
        host_cpus = f" (the host has {ncpu})" if ncpu else ""
        text = self.cpus.value.strip()
        if not text:
            hints["cpus"].value = _hint("no limit" + host_cpus)
        else:
            try:
                period, quota = cpus_to_cfs(text)
                hints["cpus"].value = _hint(
                    f"= <code>{quota}</code> µs per <code>{period}</code> µs", "ok"
                )
            except OptionsError as exc:
                hints["cpus"].value = _hint("✗ " + html.escape(str(exc)), "err")
        hints["cpu_period"].value = _hint("CFS period")
        hints["cpu_quota"].value = _hint("CPU time per period")
        hints["cpu_shares"].value = _hint("relative weight")
        hints["cpuset_cpus"].value = _hint(
            f"the host has CPUs 0-{int(ncpu) - 1}" if ncpu else "which CPUs"
        )
        # Flag the field the error names (every OptionsError starts with its flag).
        culprit = None
        if reason is not None:
            for name in (
                "memory_swap",  # before "memory": its message mentions -m/--memory too
                "memory",
                "shm_size",
                "cpu_shares",
                "cpuset_cpus",
                "cpu_period",
                "cpu_quota",
            ):
                if reason.startswith(FLAGS[name]):
                    culprit = name
                    break
            if reason.startswith("--cpus"):
                culprit = "cpus"
        for name in hints:
            box = getattr(self, name)
            self._set_class(box, "jdb-invalid", name == culprit)
            if name == culprit and not hints[name].value.startswith('<span class="jdb-err">'):
                hints[name].value = _hint("✗ " + html.escape(reason or ""), "err")
        for items, flag in (
            ((self.extra_hosts_input, self.extra_hosts), FLAGS["extra_hosts"]),
            ((self.labels_input, self.labels), FLAGS["labels"]),
            ((self.cache_from_input, self.cache_from), FLAGS["cache_from"]),
            ((self.target,), FLAGS["target"]),
            ((self.network,), FLAGS["network"]),
        ):
            for widget in items:
                self._set_class(widget, "jdb-invalid", bool(reason and reason.startswith(flag)))

    def _tags_update(self) -> None:
        """Flag each invalid tag (its chip turns red) and check the one being typed."""
        lines = []
        rules = []
        for i, tag in enumerate(self.tags.value, start=1):
            try:
                validate_tag(tag)
            except OptionsError as exc:
                lines.append(_hint("✗ " + html.escape(str(exc).removeprefix("-t/--tag: ")), "err"))
                rules.append(
                    f".{self._uid} .jdb-tags > .jupyter-widget-tag:nth-child({i})"
                    "{background:#c62828 !important;color:#fff !important;"
                    "text-decoration:underline wavy #ffcdd2}"
                )
        self._set_class(self.tags, "jdb-invalid", bool(rules))
        pending = self.tag_input.value.strip()
        if pending:
            try:
                validate_tag(pending)
            except OptionsError as exc:
                lines.append(_hint("✗ " + html.escape(str(exc).removeprefix("-t/--tag: ")), "err"))
                self._set_class(self.tag_input, "jdb-invalid", True)
            else:
                lines.append(
                    _hint(
                        f"✓ <code>{html.escape(pending)}</code> is a valid reference: Enter adds it"
                    )
                )
                self._set_class(self.tag_input, "jdb-invalid", False)
        else:
            self._set_class(self.tag_input, "jdb-invalid", False)
        if not lines:
            n = len(self.tags.value)
            lines.append(
                _hint(
                    f"{n} tag{'s' if n != 1 else ''}, each checked as a Docker reference"
                    if n
                    else "no tag: the image gets only an id"
                )
            )
        self.tags_hint.value = "<br>".join(lines)
        self._tag_css.value = f"<style>{''.join(rules)}</style>" if rules else ""

    @staticmethod
    def _set_class(widget: widgets.DOMWidget, name: str, on: bool) -> None:
        if on and name not in widget._dom_classes:
            widget.add_class(name)
        elif not on and name in widget._dom_classes:
            widget.remove_class(name)

    def _args_update(self, reason: str | None) -> None:
        for row in self.arg_rows:
            name, value = row.get()
            note = ""
            if row.declared is not None:
                where = "cell line" if self.line_offset else "line"
                note = f"ARG on {where} {row.declared.line + self.line_offset}"
                if value is None:
                    note += " · default"
            elif name and self._declared:
                note = "not declared in the Dockerfile (the daemon warns)"
            bad = bool(reason and reason.startswith("--build-arg") and name and name in reason)
            self._set_class(row.name, "jdb-invalid", bad)
            if bad:
                note = "✗ " + html.escape((reason or "").removeprefix("--build-arg: "))
                row.note.value = _hint(note, "err")
            else:
                row.note.value = _hint(html.escape(note))
        secrets = sum(1 for r in self.arg_rows if r.is_secret and r.get()[1] is not None)
        if secrets:
            held = f"{secrets} secret value{'s' if secrets != 1 else ''} held in the kernel"
            self.args_hint.value = _hint(f"&nbsp; {held}")
        elif not self.arg_rows:
            self.args_hint.value = _hint("&nbsp; the Dockerfile declares no ARG")
        else:
            self.args_hint.value = ""
        self._columns.layout.display = None if self.arg_rows else "none"

    def _refresh(self) -> None:
        """Revalidate everything and redraw hints, commands and button states."""
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
            try:
                try:
                    options: BuildOptions | None = self.options
                    reason = None
                except OptionsError as exc:
                    options, reason = None, str(exc)
                self._tags_update()
                self._args_update(reason)
                self._field_hints_update(reason)
                self._squash_update()
                if options is not None:
                    magic, cmd = self._magic_line(options), self._command(options)
                else:
                    magic = cmd = f"# fix this first: {reason}"
                self.commands.value = _cli_box(
                    "notebook cell (first line)", "jdb-cli-magic", magic
                ) + _cli_box("terminal (Dockerfile on stdin)", "jdb-cli-docker", cmd)
                self._buttons_update(reason)
            finally:
                self._refreshing = False

    def _squash_update(self) -> None:
        if self._info is not None:
            experimental = bool(self._info.get("ExperimentalBuild"))
            # Keep a ticked box clickable so it can be unticked.
            self.squash.disabled = not experimental and not self.squash.value
            self.squash_hint.value = (
                ""
                if experimental
                else _hint("needs an <code>--experimental</code> daemon; this one is not")
            )
        elif self._info_error is not None:
            self.squash.disabled = False
            self.squash_hint.value = _hint(
                "could not ask the daemon whether it is experimental (squash needs that)"
            )
        else:
            self.squash.disabled = False
            self.squash_hint.value = ""

    def _buttons_update(self, reason: str | None) -> None:
        running = self.running
        self.build_button.disabled = running or reason is not None
        self.cancel_button.disabled = not running or self._cancel.is_set()
        if reason is not None and not running:
            self.build_button.tooltip = f"Fix this first: {reason}"
            self.status.value = f'<span class="jdb-status jdb-err">✗ {html.escape(reason)}</span>'
            return
        self.build_button.tooltip = "Start the build" if not running else "Building…"
        if running:
            text = (
                "cancelling: closing the connection so the daemon stops the build…"
                if self._cancel.is_set()
                else "building in the background: the notebook stays usable, Cancel stops it"
            )
            self.status.value = f'<span class="jdb-status jdb-hint">{text}</span>'
        elif self.result is not None:
            r = self.result
            if r.ok:
                n = len(r.tags)
                tags = f", {n} tag{'s' if n != 1 else ''}" if n else ""
                self.status.value = (
                    f'<span class="jdb-status jdb-ok">✓ built <code>{r.short_id}</code> '
                    f"in {r.elapsed:.1f}s{tags}</span>"
                )
            elif r.status == "cancelled":
                self.status.value = (
                    '<span class="jdb-status" style="color:#b26a00">■ cancelled: the daemon '
                    "stopped the build</span>"
                )
            else:
                self.status.value = '<span class="jdb-status jdb-err">✗ the build failed</span>'
        elif self.error is not None:
            self.status.value = (
                f'<span class="jdb-status jdb-err">✗ {html.escape(str(self.error))}</span>'
            )
        else:
            self.status.value = '<span class="jdb-status jdb-hint">ready</span>'

    # -- the daemon ---------------------------------------------------------------------

    def refresh_daemon_info(self) -> dict[str, Any] | None:
        """Ask the daemon's ``/info`` once (cached); ``None`` if it cannot be reached.

        Called on a background thread when the form is first displayed, so a slow or
        absent daemon never blocks the cell; an unreachable one only shows a note.
        """
        with self._info_lock:
            if self._info is None and self._info_error is None:
                from ..engine.client import DockerClient

                client = self._client
                try:
                    client = client or DockerClient(self.host, timeout=10.0)
                    self._info = dict(client.get_json("/info"))
                except Exception as exc:  # unreachable, refused, odd host: only a note
                    self._info_error = str(exc) or type(exc).__name__
                finally:
                    if self._client is None and client is not None:
                        client.close()
        info = self._info
        if info is not None:
            mem = info.get("MemTotal")
            parts = [
                f"Docker {html.escape(str(info.get('ServerVersion', '?')))}",
                f"{info.get('NCPU', '?')} CPUs",
                format_size(int(mem)) if isinstance(mem, int) else "",
                "experimental" if info.get("ExperimentalBuild") else "",
            ]
            self.daemon_label.value = _hint("daemon: " + " · ".join(p for p in parts if p))
        else:
            self.daemon_label.value = (
                '<span class="jdb-warn" style="margin:0">daemon not reachable: '
                f"{html.escape(self._info_error or '')}</span>"
            )
        self._refresh()
        return info

    def _ask_daemon_later(self) -> None:
        with self._info_lock:
            if self._info_started:
                return
            self._info_started = True
        self.daemon_label.value = _hint("daemon: asking…")
        threading.Thread(
            target=self.refresh_daemon_info, name="dockerbuild-form-info", daemon=True
        ).start()

    # -- building -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a build of this form runs."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _clicked_build(self) -> None:
        try:
            self.build()
        except DockerBuildError as exc:  # a click has no cell to fail: show it
            self.error = exc
            self.status.value = f'<span class="jdb-status jdb-err">✗ {html.escape(str(exc))}</span>'

    def build(self) -> None:
        """Start a build with the current fields on a background thread; return at once.

        Raises :class:`OptionsError` (the reason Build is disabled) when a field is
        invalid, and :class:`RuntimeError` if this form is already building.
        """
        from ..builder.docker_config import apply_docker_config

        with self._lock:
            if self.running:
                raise RuntimeError("this form is already building; Cancel it or wait()")
            # Credentials and proxies from the docker config, like the magic sends them.
            options = apply_docker_config(self.options, host=self.host)
            self._cancel = threading.Event()
            self._response = None
            self.error = None
            self.builds += 1
            self.progress_bar.layout.display = None
            self.progress_bar.value = 0
            self.progress_bar.bar_style = "info"
            self.progress.value = ""
            self._thread = threading.Thread(
                target=self._run,
                args=(options,),
                name=f"dockerbuild-form-{self._uid}-{self.builds}",
                daemon=True,
            )
            self._thread.start()
            self._buttons_update(None)

    def _got_response(self, response: Any) -> None:
        self._response = response
        if self._cancel.is_set():  # Cancel came while the request was being sent
            response.cancel()

    def _run(self, options: BuildOptions) -> None:
        from ..builder.pipeline import run_build
        from ..engine.client import DockerClient

        view = _FormProgress(
            self.progress,
            self.progress_bar,
            tail_lines=self.tail_lines,
            refresh_rate=self.refresh_rate,
        )
        result: BuildResult | None = None
        client = self._client
        try:
            client = client or DockerClient(self.host)
            result = run_build(
                self.dockerfile,
                options,
                context_dir=self.context_dir,
                files=self.files,
                client=client,
                view=view,
                line_offset=self.line_offset,
                cancel_event=self._cancel,
                on_response=self._got_response,
            )
        except BuildError as exc:
            self.error = exc
            result = exc.result
        except DockerBuildError as exc:  # the daemon is down, a context file is missing...
            self.error = exc
            self.progress.value = (
                f'<div class="jdb-err" style="white-space:pre-wrap">✗ {html.escape(str(exc))}</div>'
            )
        except Exception as exc:  # a thread has no cell to fail: never lose the reason
            self.error = DockerBuildError(f"{type(exc).__name__}: {exc}")
            self.progress.value = (
                f'<div class="jdb-err">✗ unexpected error: {html.escape(str(self.error))}</div>'
            )
        finally:
            if client is not None and self._client is None:
                client.close()
            self.result = result
            self._response = None
            with self._lock:
                self._thread = None
                self._buttons_update(self.invalid_reason)

    def cancel(self) -> None:
        """Cancel the running build: close the connection; the daemon kills the step."""
        self._cancel.set()
        response = self._response
        if response is not None:
            response.cancel()
        with self._lock:
            self._buttons_update(None if self.running else self.invalid_reason)

    def wait(self, timeout: float | None = None, *, check: bool = False) -> BuildResult | None:
        """Wait for the running build (if any) and return the last result.

        Raises :class:`TimeoutError` if it is still running after ``timeout`` seconds;
        with ``check=True`` also raises the build's error if it failed or was cancelled.
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the build is still running after {timeout}s")
        if check and self.error is not None:
            raise self.error
        return self.result

    # -- display --------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Display the form's widget (and ask the daemon, once, in the background)."""
        self._ask_daemon_later()
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        return {**bundle, "text/plain": repr(self)}

    def __repr__(self) -> str:
        try:
            shown = repr(self.options)
        except OptionsError as exc:
            shown = f"invalid: {exc}"
        return f"<BuildForm {shown}>"
