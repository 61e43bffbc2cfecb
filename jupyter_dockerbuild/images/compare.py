"""Compare two images: which layers the cache reused and where the rebuild began."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.client import DockerClient
from ..markup import block, literal
from ..units import format_count, format_size
from .history import (
    _BAR_CELL,
    _CELL,
    _TABLE_CSS,
    _TEXT_CELL,
    _WRAP_CELL,
    HistoryRow,
    ImageHistory,
    _bar_html,
    _bar_text,
    _clip,
    _esc,
    _short,
    _signed_size,
    _using,
    history,
)


def _same_row(x: HistoryRow, y: HistoryRow) -> bool:
    if x.image_id and y.image_id:
        return x.image_id == y.image_id
    return (x.created_by, x.layer, x.size) == (y.created_by, y.layer, y.size)


def _layer_bytes(rows: Iterable[HistoryRow]) -> int:
    return sum(r.size for r in rows)


@dataclass(frozen=True)
class ImageComparison:
    """What two images share: the common prefix of their layers and of their steps.

    ``shared_layers`` counts the leading ``RootFS`` diff ids the two have in common
    (stored once on the daemon); ``shared_rows`` the leading history rows that are the
    same step (the same image id: the layer cache reused it). After that, the newer
    image's steps were rebuilt.
    """

    a: ImageHistory
    b: ImageHistory
    shared_layers: int
    shared_rows: int

    @property
    def identical(self) -> bool:
        """Both are the same image."""
        return self.a.image_id == self.b.image_id

    @property
    def newer(self) -> ImageHistory:
        """The image created later (the rebuild), ``b`` when the times are unknown."""
        if self.a.created and self.b.created and self.a.created > self.b.created:
            return self.a
        return self.b

    @property
    def older(self) -> ImageHistory:
        """The other image."""
        return self.b if self.newer is self.a else self.a

    @property
    def shared_size(self) -> int:
        """Bytes of the shared layers (stored once)."""
        layers = set(self.b.layers[: self.shared_layers])
        return sum(r.size for r in self.b.rows if r.layer in layers)

    @property
    def size_difference(self) -> int:
        """``b.size - a.size`` in bytes."""
        return self.b.size - self.a.size

    def only_in(self, which: ImageHistory) -> tuple[HistoryRow, ...]:
        """The rows of ``which`` (``a`` or ``b``) after the shared steps."""
        return which.rows[self.shared_rows :]

    @property
    def first_rebuilt(self) -> HistoryRow | None:
        """The newer image's first step that was not reused, if any."""
        rows = self.only_in(self.newer)
        return rows[0] if rows else None

    def summary(self) -> str:
        """The teaching point in a few sentences."""
        a, b, new, old = self.a, self.b, self.newer, self.older
        if self.identical:
            return f"{a.name} and {b.name} are the same image ({a.short_id})."
        total = len(new.layers)
        if self.shared_layers:
            shared = (
                f"The first {self.shared_layers} of {new.name}'s {format_count(total, 'layer')} "
                f"({format_size(self.shared_size)}) are shared with {old.name}: stored "
                "once, and reused instead of rebuilt."
            )
        else:
            shared = f"{new.name} and {old.name} share no layers."
        first = self.first_rebuilt
        if first is None:
            rest = f" {new.name} adds nothing after them."
        else:
            new_rows = self.only_in(new)
            new_layers = [r for r in new_rows if r.adds_layer]
            where = (
                f"step {first.step} ({first.instruction})"
                if first.step is not None
                else f"the base image ({first.instruction})"
            )
            n_steps, n_layers = len(new_rows), len(new_layers)
            rest = (
                f" From {where} on, everything was rebuilt: {format_count(n_steps, 'step')}, "
                f"{format_count(n_layers, 'new layer')} "
                f"({format_size(_layer_bytes(new_layers))})."
            )
        diff = self.size_difference
        tail = (
            f" {b.name} is {format_size(abs(diff))} {'larger' if diff > 0 else 'smaller'} "
            f"than {a.name}."
            if diff
            else f" Both are {format_size(a.size)}."
        )
        return shared + rest + tail

    def __repr__(self) -> str:
        return (
            f"<ImageComparison {self.a.name} vs {self.b.name}: "
            f"{format_count(self.shared_layers, 'shared layer')}, "
            f"{format_count(self.shared_rows, 'shared step')}>"
        )

    def _row_lines(self, title: str, rows: Sequence[HistoryRow], biggest: int) -> list[str]:
        if not rows:
            return []
        out = [f"{title}:"]
        for row in rows:
            step = "base" if row.step is None else str(row.step)
            out.append(
                f"  {step:>4}  {format_size(row.size):>8}  "
                f"{_bar_text(row.size, biggest):16}  {_clip(row.instruction, 70)}"
            )
        return out

    def __str__(self) -> str:
        new, old = self.newer, self.older
        # Full names, grouped: truncated per-row labels could not tell two tags of the
        # same repository apart. The size difference is spelled out in the summary.
        lines = [
            f"{self.a.name} ({self.a.short_id}, {format_size(self.a.size)}) vs "
            f"{self.b.name} ({self.b.short_id}, {format_size(self.b.size)})",
            self.summary(),
        ]
        if self.identical:
            return "\n".join(lines)
        biggest = max((r.size for r in (*self.a.rows, *self.b.rows)), default=0)
        lines += self._row_lines("shared", new.rows[: self.shared_rows], biggest)
        lines += self._row_lines(f"only in {new.name} (rebuilt)", self.only_in(new), biggest)
        lines += self._row_lines(f"only in {old.name}", self.only_in(old), biggest)
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self) if cycle else str(self))

    def _repr_html_(self) -> str:
        new, old = self.newer, self.older
        head = (
            f"<b>{literal(self.a.name)}</b> <code>{_esc(self.a.short_id)}</code> "
            f"({_esc(format_size(self.a.size))}) vs <b>{literal(self.b.name)}</b> "
            f"<code>{_esc(self.b.short_id)}</code> ({_esc(format_size(self.b.size))}): "
            f"{_esc(_signed_size(self.size_difference))}"
        )
        summary = f"<p>{literal(self.summary())}</p>"
        if self.identical:
            return block(head + summary, "jupyter-dockerbuild-compare")
        biggest = max((r.size for r in (*self.a.rows, *self.b.rows)), default=0)
        groups = (
            ("shared", new.rows[: self.shared_rows], "#9aa0a6", "var(--jp-ui-font-color2,#888)"),
            (f"only in {new.name} (rebuilt)", self.only_in(new), "#e8710a", ""),
            (f"only in {old.name}", self.only_in(old), "#4c8bf5", ""),
        )
        body = []
        for label, rows, color, text_color in groups:
            if not rows:
                continue
            body.append(
                f'<tr><th colspan="5" style="{_WRAP_CELL};padding-top:6px">'
                f"{literal(label)}</th></tr>"
            )
            style = f' style="color:{text_color}"' if text_color else ""
            for row in rows:
                step = "base" if row.step is None else str(row.step)
                body.append(
                    f"<tr{style}>"
                    f'<td style="{_CELL}">{_esc(step)}</td>'
                    f'<td style="{_TEXT_CELL}">'
                    f"{literal(row.instruction)}</td>"
                    f'<td style="{_CELL};text-align:right">{_esc(format_size(row.size))}</td>'
                    f'<td style="{_BAR_CELL}">{_bar_html(row.size, biggest, color)}</td>'
                    f'<td style="{_CELL}"><code>{_esc(_short(row.layer) if row.layer else "")}'
                    "</code></td></tr>"
                )
        return block(
            f"<div>{head}</div>{summary}"
            f'<table style="{_TABLE_CSS}"><tbody>{"".join(body)}</tbody></table>',
            "jupyter-dockerbuild-compare",
        )


def compare_histories(a: ImageHistory, b: ImageHistory) -> ImageComparison:
    """Line two histories up (pure): common layer prefix and common step prefix."""
    shared_layers = 0
    for x, y in zip(a.layers, b.layers, strict=False):
        if x != y:
            break
        shared_layers += 1
    shared_rows = 0
    for rx, ry in zip(a.rows, b.rows, strict=False):
        if not _same_row(rx, ry):
            break
        shared_rows += 1
    return ImageComparison(a=a, b=b, shared_layers=shared_layers, shared_rows=shared_rows)


def compare(a: Any, b: Any, client: DockerClient | None = None) -> ImageComparison:
    """Compare two images (tags, ids or ``BuildResult`` objects) layer by layer.

    Shows which leading layers they share (``RootFS.Layers`` diff ids, in order),
    which steps of the newer one were rebuilt, and the size difference.
    """
    with _using(client) as c:
        return compare_histories(history(a, client=c), history(b, client=c))


# --------------------------------------------------------------------------------------
# Prune
# --------------------------------------------------------------------------------------
