"""The build as HTML: the live progress view and the final summary; holds no logic.

While the build runs, the live view (:mod:`.live`: an HTML output updated in place, or
the form's HTML widget) is redrawn at most ``refresh_rate`` times a second, and a
heartbeat keeps the timers moving during silent steps. Only the step rows and the last
few output lines are sent at each redraw, never the whole log. When the build ends, the
output becomes a static HTML + text summary (steps, warnings, the failing step's output,
the log in a collapsible block), which is also how a displayed ``BuildResult`` looks
(:func:`render_result`), so a saved notebook shows the build without a kernel.

Everything that comes from the daemon is escaped before it goes into HTML; the ANSI
colours the daemon uses (stderr in red) become styled spans. A render reads one
:class:`~jupyter_dockerbuild.builder.state.BuildSnapshot` (taken under the state's lock),
never the live state, so a heartbeat drawing on another thread shows one instant.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from ..builder.result import UNREPORTED
from ..builder.state import BuildSnapshot
from ..units import format_count, format_size

if TYPE_CHECKING:  # pragma: no cover
    from ..builder.result import BuildResult, StepResult
    from ..builder.state import BuildState

#: How many lines of the full log the final (static) output embeds; the rest stays on
#: the result object, so a 1M-line build cannot bloat the saved notebook.
FINAL_LOG_LINES = 400
#: Output lines shown under a failed step (at least; more if the view shows more).
FAILED_TAIL_LINES = 12
#: The hint beside "Building ..." where a kernel interrupt cancels the build.
INTERRUPT_HINT = "■ interrupt the kernel to cancel"

# Every CSI sequence; only SGR ("m") ones carry colours, the rest (cursor moves,
# line erases from progress bars) are dropped.
_ANSI_RE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")
_COLOURS = {
    30: "#000",
    31: "#c62828",
    32: "#2e7d32",
    33: "#b26a00",
    34: "#1565c0",
    35: "#8e24aa",
    36: "#00838f",
    37: "#666",
    90: "#777",
    91: "#d32f2f",
    92: "#388e3c",
    93: "#b28704",
    94: "#1976d2",
    95: "#9c27b0",
    96: "#0097a7",
    97: "#999",
}
_MONO = "font-family: var(--jp-code-font-family, monospace); font-size: 12px;"
_ICONS = {
    "waiting": ("&nbsp;", "#999"),
    "running": ("▶", "#1976d2"),
    "done": ("✓", "#2e7d32"),
    "cached": ("✓", "#2e7d32"),
    "failed": ("✗", "#c62828"),
    "cancelled": ("■", "#b26a00"),
    "unreported": ("·", "#999"),
}


def ansi_to_html(text: str) -> str:
    """Escape ``text`` for HTML and turn SGR colour codes into spans (others dropped)."""
    out: list[str] = []
    open_span = False
    pos = 0
    for match in _ANSI_RE.finditer(text):
        out.append(html.escape(text[pos : match.start()]))
        pos = match.end()
        if match.group(2) != "m":
            continue
        codes = [int(c) for c in match.group(1).split(";") if c.isdigit()] or [0]
        style = ""
        for code in codes:
            if code in _COLOURS:
                style += f"color:{_COLOURS[code]};"
            elif code == 1:
                style += "font-weight:bold;"
        if open_span:
            out.append("</span>")
            open_span = False
        if style:
            out.append(f'<span style="{style}">')
            open_span = True
    out.append(html.escape(text[pos:]))
    if open_span:
        out.append("</span>")
    return "".join(out)


def _fmt_secs(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def _line_html(text: str, is_stderr: bool) -> str:
    body = ansi_to_html(text)
    if is_stderr:
        return f'<span style="color:#d32f2f">{body}</span>'
    return body


def _step_row(snap: BuildSnapshot, step: StepResult) -> str:
    icon, colour = _ICONS.get(step.status, ("?", "#999"))
    right = "CACHED" if step.cached else _fmt_secs(step.duration)
    where = ""
    if step.status == "failed" and step.line:
        label = "cell line" if snap.line_offset else "line"
        # The snapshot's lines already count from the cell's first line.
        where = f'<span style="color:#c62828">{label} {step.line}</span> '
    weight = "font-weight:600;" if step.status in ("running", "failed") else ""
    dim = "color:#999;" if step.status in ("waiting", "unreported") else ""
    instr = html.escape(step.instruction)
    return (
        f'<div style="display:flex;gap:.6em;{weight}{dim}" class="jdb-step jdb-{step.status}">'
        f'<span style="color:{colour};width:1em">{icon}</span>'
        f'<span style="width:2.2em;text-align:right;color:#888">{step.number}</span>'
        f'<span style="flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap" '
        f'title="{instr}">{instr}</span>'
        f'<span style="white-space:nowrap">{where}{right}</span></div>'
    )


def _tail_html(lines: tuple[tuple[str, bool], ...]) -> str:
    if not lines:
        return ""
    body = "\n".join(_line_html(text, err) for text, err in lines)
    return (
        '<pre class="jdb-tail" style="margin:.1em 0 .2em 3.4em;padding:.2em .6em;'
        "border-left:2px solid #90caf9;background:rgba(127,127,127,.07);"
        f'white-space:pre-wrap;word-break:break-all;{_MONO}">{body}</pre>'
    )


def _bar(pct: int, colour: str = "#64b5f6") -> str:
    return (
        '<span style="flex:1;background:#eee;height:.7em;margin-top:.3em">'
        f'<span style="display:block;height:100%;width:{pct}%;background:{colour}"></span>'
        "</span>"
    )


def _downloads_html(snap: BuildSnapshot) -> str:
    """One bar per layer (the last few) and an aggregate bar over all of them."""
    downloads = snap.downloads
    if not downloads:
        return ""
    rows = []
    current = sum(d[2] for d in downloads)
    total = sum(d[3] for d in downloads)
    if len(downloads) > 1 or total:
        pct = min(100, int(100 * current / total)) if total else 0
        label = f"{len(downloads)} download{'s' if len(downloads) > 1 else ''}"
        amount = f"{format_size(current)} / {format_size(total)}" if total else ""
        rows.append(
            f'<div class="jdb-downloads" style="display:flex;gap:.6em;margin-left:3.4em">'
            f'<span style="width:9em">{label}</span><span style="width:12em">{amount}</span>'
            f"{_bar(pct, '#1976d2')}</div>"
        )
    for key, status, got, size in downloads[-6:]:
        pct = min(100, int(100 * got / size)) if size else 0
        rows.append(
            f'<div style="display:flex;gap:.6em;margin-left:3.4em;color:#666">'
            f'<span style="width:9em">{html.escape(str(key))[:12]}</span>'
            f'<span style="width:12em">{html.escape(status)}</span>{_bar(pct)}</div>'
        )
    return "".join(rows)


def _header_html(snap: BuildSnapshot, cancel_hint: str | None) -> str:
    total = snap.total_steps
    done = sum(1 for s in snap.steps if s.status in ("done", "cached"))
    tags = " ".join(f'<code style="padding:0 .3em">{html.escape(t)}</code>' for t in snap.tags)
    elapsed = _fmt_secs(snap.elapsed)
    status = snap.status
    if status in ("pending", "running"):
        title = f"Building {elapsed} ({done}/{total})" if total else f"Building {elapsed}"
        colour = "#1976d2"
        hint = (
            f'<span style="color:#999;font-weight:normal">{html.escape(cancel_hint)}</span>'
            if cancel_hint
            else ""
        )
    elif status == "succeeded":
        image = html.escape((snap.image_id or "")[:19])
        title = f"Built {image} in {elapsed}"
        colour = "#2e7d32"
        hint = ""
        if snap.warnings:
            n = len(snap.warnings)
            hint = f'<span style="color:#b26a00">⚠ {n} warning{"s" if n > 1 else ""}</span>'
    elif status == "cancelled":
        title = f"Cancelled after {elapsed}"
        colour = "#b26a00"
        hint = ""
    else:
        step = snap.error_step
        where = f" at step {step}/{total}" if step else ""
        title = f"Failed after {elapsed}{where}"
        colour = "#c62828"
        code = snap.exit_code
        hint = f'<span style="color:#c62828">exit code {code}</span>' if code else ""
    return (
        f'<div class="jdb-header" style="display:flex;gap:1em;align-items:baseline;'
        f'font-weight:600;color:{colour}"><span class="jdb-title">{title}</span>'
        f"{_builder_html(snap)}"
        f'<span style="flex:1"></span><span style="color:inherit;font-weight:normal">{tags}</span>'
        f"{hint}</div>"
    )


def _builder_html(snap: BuildSnapshot) -> str:
    """Which builder runs the build, and why (in the tooltip and, for auto, in words)."""
    name = "BuildKit" if snap.builder == "buildkit" else "classic builder"
    note = snap.builder_note
    why = ""
    if note.startswith("auto"):
        why = f' <span style="color:#999">({html.escape(note)})</span>'
    return (
        f'<span class="jdb-builder" data-builder="{html.escape(snap.builder)}" '
        f'title="{html.escape(note or name)}" style="font-weight:normal;color:#666">'
        f"{name}{why}</span>"
    )


def snapshot_of(
    state: BuildState | BuildSnapshot, *, tail_lines: int = 6, final: bool = False
) -> BuildSnapshot:
    """The snapshot :func:`render_html` draws: enough tail lines, the log if ``final``."""
    if isinstance(state, BuildSnapshot):
        if final and state.log is None:
            raise ValueError("a final render needs a snapshot taken with log=True")
        return state
    return state.snapshot(tail=max(tail_lines, FAILED_TAIL_LINES), log=final)


def render_html(
    state: BuildState | BuildSnapshot,
    *,
    tail_lines: int = 6,
    final: bool = False,
    cancel_hint: str | None = INTERRUPT_HINT,
    bar: bool = False,
) -> str:
    """Render a state (through one snapshot of it) as one HTML fragment, live or final.

    ``cancel_hint`` is shown while the build runs (None: nothing, e.g. where a Cancel
    button does the job). The final form always draws its progress bar; a live one only
    with ``bar`` (the form draws a bar widget of its own beside it).
    """
    snap = snapshot_of(state, tail_lines=tail_lines, final=final)
    # mathjax_ignore/tex2jax_ignore: JupyterLab typesets "$...$" in HTML outputs as
    # LaTeX, which would mangle shell lines like "RUN echo $(seq 1 3) $i".
    parts = [
        f'<div class="jdb-build mathjax_ignore tex2jax_ignore" style="{_MONO}line-height:1.45">'
    ]
    parts.append(_header_html(snap, cancel_hint))
    total = snap.total_steps
    if final or bar:
        done = sum(1 for s in snap.steps if s.status in ("done", "cached"))
        pct = 100 if snap.status == "succeeded" else int(100 * done / total) if total else 0
        colour = {
            "succeeded": "#43a047",
            "cancelled": "#fb8c00",
            "pending": "#64b5f6",
            "running": "#64b5f6",
        }.get(snap.status, "#e53935")
        parts.append(
            '<div class="jdb-bar" style="height:4px;background:#e0e0e0;margin:.2em 0">'
            f'<div style="height:100%;width:{pct}%;background:{colour}"></div></div>'
        )
    failed = snap.status == "failed"
    for step in snap.steps:
        parts.append(_step_row(snap, step))
        show_tail = (step.status == "running" and not final) or step.status == "failed"
        if show_tail:
            n = tail_lines if not failed else max(tail_lines, FAILED_TAIL_LINES)
            # Several steps may run at once (BuildKit): each has its own tail then.
            lines = snap.tail if snap.tails is None else snap.tails.get(step.number, ())
            parts.append(_tail_html(lines[-n:] if n > 0 else ()))
        note = snap.notes.get(step.number)
        if note:
            parts.append(
                '<div class="jdb-note" style="margin-left:3.4em;color:#b26a00">'
                f"✂ {html.escape(note)}</div>"
            )
    if snap.status in ("pending", "running"):
        parts.append(_downloads_html(snap))
    parts.append(_after_build_html(snap, cancel_hint))
    if snap.error is not None:
        parts.append(
            f'<div style="color:#c62828;white-space:pre-wrap;margin-top:.2em">'
            f"{html.escape(snap.error)}</div>"
        )
    for warning in snap.warnings:
        parts.append(f'<div style="color:#b26a00">⚠ {html.escape(warning)}</div>')
    if final:
        parts.append(_final_log_html(snap, open_=failed))
    parts.append("</div>")
    return "".join(parts)


#: What ``str.splitlines`` breaks lines at ("\r\n" counts once).
_LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _count_lines(text: str) -> int:
    """``len(text.splitlines())`` without building the list.

    A 1M-line log as a list of str is ~70 MB and ~150 ms; this is one C scan.
    """
    if not text:
        return 0
    # ``in`` is a memchr per separator; count only the ones present (usually just "\n").
    breaks = sum(text.count(b) for b in _LINE_BREAKS if b in text)
    if "\r" in text:
        breaks -= text.count("\r\n")
    return breaks if text[-1] in _LINE_BREAKS else breaks + 1


def _last_lines(text: str, n: int) -> list[str]:
    """``text.splitlines()[-n:]``, splitting only the end of ``text``."""
    start = len(text)
    for _ in range(n + 1):
        # After n + 1 newlines back, the window holds at least n whole lines, and it
        # starts at a line boundary: its last n lines are the text's last n lines.
        start = text.rfind("\n", 0, start)
        if start < 0:
            return text.splitlines()[-n:] if n > 0 else []
    return text[start + 1 :].splitlines()[-n:] if n > 0 else []


def _final_log_html(snap: BuildSnapshot, *, open_: bool) -> str:
    log = snap.log or ""
    total = _count_lines(log)
    shown = _last_lines(log, FINAL_LOG_LINES)
    hidden = total - len(shown)
    note = (
        f'<div style="color:#999">… {format_count(hidden, "earlier line")}: the whole log is '
        "in the result's "
        "<code>.log</code> (use <code>--out NAME</code>)</div>"
        if hidden
        else ""
    )
    cached = sum(1 for s in snap.steps if s.cached)
    steps = format_count(len(snap.steps), "step")
    if any(s.status == "unreported" for s in snap.steps):
        steps += f" {UNREPORTED}"
    else:
        steps += f" ({cached} cached)"
    summary = f"full log ({format_count(total, 'line')}) · {steps}"
    return (
        f'<details class="jdb-log"{" open" if open_ else ""} style="margin-top:.3em">'
        f'<summary style="cursor:pointer;color:#666">{summary}</summary>{note}'
        f'<pre style="max-height:24em;overflow:auto;white-space:pre-wrap;{_MONO}">'
        f"{html.escape(chr(10).join(shown))}</pre></details>"
    )


# -- after the build: the bases it used, the push of its tags -------------------------------

_PUSH_HEAD = {
    "pending": ("▶", "#1976d2", "Pushing"),
    "running": ("▶", "#1976d2", "Pushing"),
    "pushed": ("✓", "#2e7d32", "Pushed"),
    "failed": ("✗", "#c62828", "Push failed:"),
    "cancelled": ("■", "#b26a00", "Push stopped:"),
}


def _after_build_html(snap: BuildSnapshot, cancel_hint: str | None) -> str:
    """The base image of each stage, then each tag's push: layers like downloads."""
    rows: list[str] = []
    for base in snap.bases:
        rows.append(
            '<div class="jdb-base" style="display:flex;gap:.6em;color:#666">'
            '<span style="width:3.2em;text-align:right">base</span>'
            f'<span style="overflow-wrap:anywhere">{html.escape(base.describe())}</span></div>'
        )
    for push in snap.pushes:
        icon, colour, head = _PUSH_HEAD[push.status]
        live = push.status in ("pending", "running")
        sent, total = push.sent
        detail = f"{push.done}/{format_count(len(push.layers), 'layer')}"
        if live and total:
            detail += f" · {format_size(sent)} / {format_size(total)}"
        hint = ""
        if live and cancel_hint:
            hint = f'<span style="color:#999;font-weight:normal">{html.escape(cancel_hint)}</span>'
        rows.append(
            f'<div class="jdb-push jdb-push-{push.status}" style="display:flex;gap:.6em;'
            f'font-weight:600;color:{colour}"><span style="width:1em">{icon}</span>'
            f'<span class="jdb-push-title" style="overflow-wrap:anywhere">{head} '
            f"{html.escape(push.reference)}</span>"
            f'<span style="font-weight:normal;white-space:nowrap">{detail} · '
            f'{_fmt_secs(push.elapsed)}</span><span style="flex:1"></span>{hint}</div>'
        )
        if push.status == "pushed" and push.digest:
            rows.append(
                '<div style="margin-left:1.6em;color:#666">digest <span class="jdb-push-digest">'
                f"{html.escape(push.digest)}</span></div>"
            )
        if not live:
            continue
        if len(push.layers) > 1 and total:
            pct = min(100, int(100 * sent / total))
            rows.append(
                '<div class="jdb-push-total" style="display:flex;gap:.6em;margin-left:3.4em">'
                f'<span style="width:9em">{format_count(len(push.layers), "layer")}</span>'
                f'<span style="width:12em">{format_size(sent)} / {format_size(total)}</span>'
                f"{_bar(pct, '#1976d2')}</div>"
            )
        for key, status, got, size, done in push.layers[-6:]:
            pct = 100 if done else min(100, int(100 * got / size)) if size else 0
            rows.append(
                '<div class="jdb-push-layer" style="display:flex;gap:.6em;margin-left:3.4em;'
                f'color:#666"><span style="width:9em">{html.escape(key[:12])}</span>'
                f'<span style="width:12em">{html.escape(status)}</span>{_bar(pct)}</div>'
            )
    if snap.push_error is not None:
        rows.append(
            '<div class="jdb-push-error" style="color:#c62828;white-space:pre-wrap">'
            f"✗ {html.escape(snap.push_error)}</div>"
        )
    return "".join(rows)


# -- a result, displayed ------------------------------------------------------------------


def render_result(result: BuildResult, *, tail_lines: int = 6) -> str:
    """A :class:`BuildResult` as the HTML summary its build's live view ended with.

    From the snapshot the result kept of its final state (the failed step's output,
    BuildKit's notes, the pushes); a result made by hand has none, and is drawn from
    its own fields (no step output then).
    """
    snap = result.final_snapshot
    if not isinstance(snap, BuildSnapshot):
        failed = result.failed_step
        snap = BuildSnapshot(
            status=result.status,
            tags=result.tags,
            line_offset=result.line_offset,
            total_steps=len(result.steps),
            steps=result.steps,
            tail=(),
            downloads=(),
            image_id=result.image_id,
            warnings=result.warnings,
            error=result.error,
            exit_code=result.exit_code,
            error_step=failed.number if failed is not None else None,
            elapsed=result.elapsed,
            log=result.log,
            version=0,
            builder=result.builder,
            builder_note=result.builder_note,
            bases=result.bases,
            push_error=result.push_error,
        )
    return render_html(snap, tail_lines=tail_lines, final=True, cancel_hint=None)
