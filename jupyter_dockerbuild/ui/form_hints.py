"""What the build form says: the HTML of its hints, status and commands, from the model.

Pure functions of a :class:`~jupyter_dockerbuild.ui.form_model.FormModel` (and of the
first thing wrong with it, an :class:`~jupyter_dockerbuild.errors.OptionsError` whose
``option`` names the field to flag). No ipywidgets: the view in :mod:`.form` only puts
these strings into its widgets.
"""

from __future__ import annotations

import html
from typing import Any

from ..builder.options import OPTION, Kind, parse_size
from ..errors import OptionsError
from ..units import format_size
from .form_model import ArgRow, FormModel

HISTORY_WARNING = (
    "⚠ Build args are stored in the image: anyone who has it can read them with "
    "<code>docker history</code>, and a <code>RUN</code> that prints one puts it in the "
    "log. <b>secret</b> keeps a value out of this notebook, the commands and the progress "
    "view, not out of the image."
)

#: Red chips for invalid tags: one rule per bad chip, scoped to one form.
_BAD_CHIP = (
    ".{uid} .jdb-tags > .jupyter-widget-tag:nth-child({i})"
    "{{background:#c62828 !important;color:#fff !important;"
    "text-decoration:underline wavy #ffcdd2}}"
)


def hint(text: str, kind: str = "hint") -> str:
    """A hint span (``kind``: ``hint``, ``ok`` or ``err``); ``text`` is HTML."""
    return f'<span class="jdb-{kind}">{text}</span>'


def _err(error: OptionsError) -> str:
    return hint("✗ " + html.escape(error.detail, quote=False), "err")


def cli_box(label: str, css: str, text: str) -> str:
    """A read-only text area (select and copy), tall enough for ``text``."""
    rows = min(6, len(text) // 110 + 1)
    return (
        f'<div class="jdb-cli-label">{html.escape(label)}</div>'
        f'<textarea class="jdb-cli {css}" readonly rows="{rows}" spellcheck="false">'
        f"{html.escape(text)}</textarea>"
    )


def title(model: FormModel) -> str:
    """The form's heading: how many instructions, and the base image."""
    instructions = model.parsed.instructions
    base = next(
        (
            ins.text.split(None, 1)[1]
            for ins in instructions
            if ins.keyword == "FROM" and len(ins.text.split()) > 1
        ),
        None,
    )
    n = len(instructions)
    sub = f"{n} instruction{'s' if n != 1 else ''}"
    if base:
        sub += f" · FROM {html.escape(base)}"
    return (
        f'<span class="jdb-title"><i class="fa fa-cube"></i> docker build</span> '
        f'<span class="jdb-sub">{sub}</span>'
    )


def field_hint(model: FormModel, name: str, error: OptionsError | None) -> tuple[str, bool]:
    """``(HTML, invalid)`` beside the text field ``name`` (a resource limit)."""
    own = model.field_error(name)
    if own is not None:
        return _err(own), True
    if error is not None and error.option == name:  # e.g. swap below memory
        return _err(error), True
    opt = OPTION[name]
    text = model.text[name].strip()
    ncpu = (model.daemon.info or {}).get("NCPU")
    if opt.kind is Kind.SIZE and text:
        size = parse_size(text, opt.label, allow_unlimited=opt.unlimited)
        if size == -1:
            return hint("= <code>-1</code>: unlimited swap", "ok"), False
        return hint(f"= <code>{size:,}</code> B ({format_size(size or 0)})", "ok"), False
    if opt.kind is Kind.CPUS:
        if not text:
            return hint(opt.note + (f" (the host has {ncpu})" if ncpu else "")), False
        period, quota = OPTION["cpus"].parse(text)
        return hint(f"= <code>{quota}</code> µs per <code>{period}</code> µs", "ok"), False
    if name == "cpuset_cpus" and ncpu:
        return hint(f"the host has CPUs 0-{int(ncpu) - 1}"), False
    return hint(opt.note), False


def field_invalid(model: FormModel, name: str, error: OptionsError | None) -> bool:
    """True if the field ``name`` (without a hint of its own) is what is wrong."""
    if name in model.text and model.field_error(name) is not None:
        return True
    return error is not None and error.option == name


def tags_hint(model: FormModel, uid: str) -> tuple[str, str, bool, bool]:
    """``(hint HTML, chip CSS, chips invalid, typed tag invalid)`` for the tags."""
    lines: list[str] = []
    rules: list[str] = []
    tags = model.lists["tags"]
    for i, tag in enumerate(tags, start=1):
        error = model.item_error("tags", tag)
        if error is not None:
            lines.append(_err(error))
            rules.append(_BAD_CHIP.format(uid=uid, i=i))
    pending = model.pending["tags"].strip()
    pending_bad = False
    if pending:
        error = model.item_error("tags", pending)
        pending_bad = error is not None
        if error is not None:
            lines.append(_err(error))
        else:
            code = f"<code>{html.escape(pending)}</code>"
            lines.append(hint(f"✓ {code} is a valid reference: Enter adds it"))
    if not lines:
        n = len(tags)
        lines.append(
            hint(
                f"{n} tag{'s' if n != 1 else ''}, each checked as a Docker reference"
                if n
                else "no tag: the image gets only an id"
            )
        )
    css = f"<style>{''.join(rules)}</style>" if rules else ""
    return "<br>".join(lines), css, bool(rules), pending_bad


def row_note(model: FormModel, row: ArgRow) -> tuple[str, bool]:
    """``(HTML, invalid)`` of a build-arg row: where it is declared, or what is wrong."""
    error = model.row_error(row)
    if error is not None:
        return _err(error), True
    name, value = row.get()
    note = ""
    if row.declared is not None:
        where = "cell line" if model.line_offset else "line"
        note = f"ARG on {where} {row.declared.line + model.line_offset}"
        if value is None:
            note += " · default"
    elif name and model.declared:
        note = "not declared in the Dockerfile (the daemon warns)"
    return hint(html.escape(note)), False


def args_hint(model: FormModel) -> str:
    """Beside "+ build arg": how many secrets are held, or that there is no ARG."""
    secrets = sum(1 for r in model.rows if r.secret and r.get()[1] is not None)
    if secrets:
        held = f"{secrets} secret value{'s' if secrets != 1 else ''} held in the kernel"
        return hint(f"&nbsp; {held}")
    if not model.rows:
        return hint("&nbsp; the Dockerfile declares no ARG")
    return ""


def squash_state(model: FormModel) -> tuple[bool, str]:
    """``(disabled, hint HTML)`` of the squash box, from what the daemon said."""
    if model.daemon.info is not None:
        experimental = bool(model.daemon.info.get("ExperimentalBuild"))
        # Keep a ticked box clickable so it can be unticked.
        disabled = not experimental and not model.flags["squash"]
        text = "needs an <code>--experimental</code> daemon; this one is not"
        return disabled, "" if experimental else hint(text)
    if model.daemon.error is not None:
        return False, hint(
            "could not ask the daemon whether it is experimental (squash needs that)"
        )
    return False, ""


def daemon_label(model: FormModel) -> str:
    """The daemon's version, CPUs and memory, or why it could not be asked."""
    info = model.daemon.info
    if info is not None:
        mem = info.get("MemTotal")
        parts = [
            f"Docker {html.escape(str(info.get('ServerVersion', '?')))}",
            f"{info.get('NCPU', '?')} CPUs",
            format_size(int(mem)) if isinstance(mem, int) else "",
            "experimental" if info.get("ExperimentalBuild") else "",
        ]
        return hint("daemon: " + " · ".join(p for p in parts if p))
    if model.daemon.error is not None:
        return (
            '<span class="jdb-warn" style="margin:0">daemon not reachable: '
            f"{html.escape(model.daemon.error)}</span>"
        )
    return hint("daemon: asking…" if model.daemon.asked else "daemon: not asked yet")


def commands(model: FormModel, error: OptionsError | None) -> str:
    """The two equivalent commands, or what to fix first."""
    if error is None:
        options = model.options
        magic, cmd = model.magic_line(options), model.command(options)
    else:
        magic = cmd = f"# fix this first: {error}"
    return cli_box("notebook cell (first line)", "jdb-cli-magic", magic) + cli_box(
        "terminal (Dockerfile on stdin)", "jdb-cli-docker", cmd
    )


def _status_span(css: str, text: str, style: str = "") -> str:
    classes = f"jdb-status {css}".strip()
    style = f' style="{style}"' if style else ""
    return f'<span class="{classes}"{style}>{text}</span>'


def status(model: FormModel, error: OptionsError | None) -> str:
    """The line beside Build/Cancel: what is wrong, what runs, or how the last build went."""
    if model.runner.running:
        doing = model.runner.activity
        if model.runner.cancelling:
            text = f"cancelling: closing the connection so the daemon stops the {doing}…"
        elif doing == "push":
            text = "pushing in the background: the notebook stays usable, Cancel stops it"
        else:
            text = "building in the background: the notebook stays usable, Cancel stops it"
        return _status_span("jdb-hint", text)
    r = model.runner.result
    if r is not None and r.ok and model.runner.activity == "push":
        # What the Push button just did (the fields may have changed since the build).
        if r.push_error is not None:
            return _status_span("jdb-err", f"✗ {html.escape(r.push_error)}")
        names = ", ".join(f"<code>{html.escape(t.reference)}</code>" for t in r.pushed)
        digest = html.escape(r.pushed[0].digest) if r.pushed else ""
        return _status_span("jdb-ok", f"✓ pushed {names} <code>{digest}</code>")
    if error is not None:
        return _status_span("jdb-err", f"✗ {html.escape(str(error))}")
    if r is not None:
        if r.ok and r.push_error is not None:  # a build with --push whose push failed
            return _status_span("jdb-err", f"✗ built, then {html.escape(r.push_error)}")
        if r.ok:
            n = len(r.tags)
            tags = f", {n} tag{'s' if n != 1 else ''}" if n else ""
            if r.pushed:
                tags += f", pushed <code>{html.escape(r.pushed[0].digest)}</code>"
            return _status_span(
                "jdb-ok", f"✓ built <code>{r.short_id}</code> in {r.elapsed:.1f}s{tags}"
            )
        if r.status == "cancelled":
            text = "■ cancelled: the daemon stopped the build"
            return _status_span("", text, "color:#b26a00")
        return _status_span("jdb-err", "✗ the build failed")
    if model.runner.error is not None:
        return _status_span("jdb-err", f"✗ {html.escape(str(model.runner.error))}")
    return _status_span("jdb-hint", "ready")


def buttons(model: FormModel, error: OptionsError | None) -> dict[str, Any]:
    """The Build and Cancel buttons' state: ``build_disabled``, ``cancel_disabled``, ``tooltip``."""
    running = model.runner.running
    if error is not None and not running:
        tooltip = f"Fix this first: {error}"
    else:
        tooltip = "Building…" if running else "Start the build"
    return {
        "build_disabled": running or error is not None,
        "cancel_disabled": not running or model.runner.cancelling,
        "tooltip": tooltip,
    }


def push_button(model: FormModel) -> tuple[bool, str, str]:
    """``(disabled, tooltip, hint HTML)`` of the Push button.

    The hint says why Push cannot be used only when that is news: the last build
    succeeded but its tags cannot be pushed (no tag, or one naming no registry).
    """
    reason = model.push_check()
    if reason is None:
        result = model.runner.result
        tags = ", ".join(result.tags) if result is not None else ""
        return False, f"Push {tags} to the registry (like docker push)", ""
    result = model.runner.result
    shown = ""
    if result is not None and result.ok and not model.runner.running:
        shown = hint("Push: " + html.escape(reason, quote=False))
    return True, reason, shown


def failure(model: FormModel) -> str | None:
    """The progress area after a build that never got going (no result), else ``None``."""
    runner = model.runner
    if runner.running or runner.result is not None or runner.error is None:
        return None
    text = html.escape(str(runner.error))
    if runner.error_unexpected:
        return f'<div class="jdb-err">✗ unexpected error: {text}</div>'
    return f'<div class="jdb-err" style="white-space:pre-wrap">✗ {text}</div>'
