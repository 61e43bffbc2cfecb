"""After the build: look inside an image, compare two images, clean up what builds left.

- :func:`history` reads ``GET /images/{id}/history`` and ``/json`` into an
  :class:`ImageHistory`: one row per Dockerfile instruction, oldest first, with the
  layer it added (if any) and its size, drawn as a table with a bar per layer.
- :func:`compare` lines two histories up (``RootFS.Layers`` diff ids and history rows)
  to show what the layer cache reused: "the first N layers are shared; from step K on,
  everything was rebuilt".
- :func:`prune` removes what builds leave behind: containers of ``rm=False`` builds
  and of failed steps, dangling images (with their untagged parents), tags a notebook
  made, and BuildKit's build cache. ``dry_run=True`` lists exactly what would go.

How the classic builder records an image, as measured on dockerd 20.10 (API 1.41):

- Every instruction after ``FROM`` commits an image, so every history row of a locally
  built image has an image id; only rows of pulled or loaded images say ``<missing>``.
  The history endpoint does not say which rows added a layer (``empty_layer`` is not
  exposed), and the size is no guide: ``WORKDIR`` commits a real layer of 0 bytes while
  ``RUN true`` commits none (an empty diff is not appended). The exact answer is the
  layer count of each row's image, so :func:`history` asks for it.
- ``RUN`` with build args records them in the history (``|1 X=1 /bin/sh -c ...``,
  values unquoted, spaces and all) for anyone who can pull the image to read, and
  nothing in the image says which were secret. So the rows show ``X=***`` unless the
  kernel knows better (a ``BuildResult`` names its secret args) or the user asks.
- A build with ``rm=False`` leaves one container per step (``created`` for metadata
  steps, ``exited`` for RUN), each committed into the step's image (the image's
  ``Container`` field names it; API 1.45 hides it, so it is read at 1.44). A failed
  RUN with ``forcerm=False`` leaves the exited container it failed in. All of them run
  on a full image id, log to the ``none`` driver, and RUN containers have the
  healthcheck disabled. A failed build also leaves its last committed step as a
  dangling image (that is the cache for the retry).
- ``GET /images/json`` with ``dangling=true`` lists untagged images without children
  only; the intermediate images under them are hidden, and ``DELETE /images/{id}``
  removes them with their child (untagged parents are pruned). Intermediate images
  under a tagged image are that image's ancestry and cache: prune never touches them.
- ``POST /build/prune`` clears BuildKit's cache only: on the classic builder it answers
  ``{"CachesDeleted": null, "SpaceReclaimed": 0}``; the classic cache *is* the images.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from ..engine.client import DockerClient, HTTPError, _vtuple
from ..errors import ImageNotFound
from ..markup import block, literal
from ..markup import escape as _esc
from ..units import format_count, format_size

__all__ = [
    "HistoryRow",
    "ImageHistory",
    "ImageNotFound",
    "build_history",
    "clean_created_by",
    "history",
]


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


@contextmanager
def _using(client: DockerClient | None) -> Iterator[DockerClient]:
    """Use ``client``, or a fresh one that is closed afterwards."""
    if client is not None:
        yield client
        return
    own = DockerClient()
    try:
        yield own
    finally:
        own.close()


def _short(image_id: str | None) -> str:
    """``sha256:abc...`` -> the 12 hex digits the docker CLI shows."""
    if not image_id:
        return "<missing>"
    return image_id.split(":", 1)[-1][:12]


def _reference(image: Any) -> str:
    """A tag or id from a tag, an id, or anything with ``.image_id`` (a BuildResult)."""
    if isinstance(image, str):
        if not image.strip():
            raise ImageNotFound("no image given: pass a tag, an image id or a BuildResult")
        return image.strip()
    image_id = getattr(image, "image_id", None)
    if image_id:
        return str(image_id)
    if hasattr(image, "image_id"):
        error = getattr(image, "error", None)
        raise ImageNotFound(
            "this build produced no image" + (f" (it failed: {error})" if error else "")
        )
    raise ImageNotFound(f"expected a tag, an image id or a BuildResult, got {image!r}")


def _inspect(client: DockerClient, ref: str) -> dict[str, Any]:
    try:
        return dict(client.get_json(f"/images/{quote(ref, safe='')}/json"))
    except HTTPError as exc:
        if exc.status == 404:
            raise ImageNotFound(f"no image {ref!r} on the daemon") from exc
        raise


#: The last API version whose image inspect has ``Container`` (1.45 dropped it).
_CONTAINER_FIELD_UNTIL = "1.44"


def _committed_from(client: DockerClient, ref: str) -> str | None:
    """The id of the container the image was committed from, if the daemon says.

    Asked at API 1.44 when the negotiated version is newer and the daemon still
    accepts 1.44 (26.1 and 28.5 answer it there): from 1.45 on the field is left out.
    """
    path = f"/images/{quote(ref, safe='')}/json"
    version = client.api_version
    lowest = str(client.version_info().get("MinAPIVersion") or version)
    if _vtuple(version) > _vtuple(_CONTAINER_FIELD_UNTIL) >= _vtuple(lowest):
        try:
            resp = client.request("GET", f"/v{_CONTAINER_FIELD_UNTIL}{path}", versioned=False)
        except HTTPError as exc:
            if exc.status == 404:
                raise ImageNotFound(f"no image {ref!r} on the daemon") from exc
            raise
        info = resp.json()
    else:
        info = _inspect(client, ref)
    return info.get("Container") or None


def _parse_time(value: Any) -> datetime | None:
    """Unix seconds (history) or RFC 3339 with nanoseconds (inspect) -> aware UTC."""
    if isinstance(value, (int, float)) and value > 0:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str) and value:
        # Go trims trailing zeros (1 to 9 fractional digits); Python before 3.11 reads
        # neither that nor "Z", so normalise to 6 digits and an explicit offset.
        text = re.sub(
            r"\.(\d+)", lambda m: "." + (m.group(1) + "00000")[:6], value.replace("Z", "+00:00")
        )
        try:
            return datetime.fromisoformat(text).astimezone(timezone.utc)
        except ValueError:
            return None
    return None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _size(num: int | None) -> str:
    return "?" if num is None else format_size(num)


def _signed_size(num: int) -> str:
    return ("+" if num > 0 else "-" if num < 0 else "±") + format_size(abs(num))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _bar_html(size: int, biggest: int, color: str = "#4c8bf5") -> str:
    """A horizontal bar whose length is ``size`` relative to ``biggest``."""
    if size <= 0 or biggest <= 0:
        return ""
    pct = max(100.0 * size / biggest, 0.5)
    return (
        f'<div style="background:{color};height:0.8em;width:{pct:.1f}%;'
        'min-width:2px;border-radius:2px"></div>'
    )


def _bar_text(size: int, biggest: int, width: int = 16) -> str:
    if size <= 0 or biggest <= 0:
        return ""
    return "█" * max(1, round(width * size / biggest))


_TABLE_CSS = (
    "border-collapse:collapse;font-size:0.9em;font-family:var(--jp-code-font-family,monospace)"
)
_CELL = "padding:1px 8px;text-align:left;vertical-align:top;white-space:nowrap"
# Long text (an instruction, a daemon message) wraps, anywhere if it must: a long word
# such as ENV PATH=/usr/local/sbin:... would otherwise set the table's minimum width,
# and cut its last columns in a notebook beside the file browser at 1280 px.
_TEXT_CELL = (
    "padding:1px 8px;text-align:left;vertical-align:top;white-space:pre-wrap;"
    "overflow-wrap:anywhere;min-width:12em"
)
_WRAP_CELL = "padding:1px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere"
_BAR_CELL = _CELL + ";width:8em"


# --------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------

_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL_C = re.compile(r"^/bin/sh -c\s+")
_ARGS_PREFIX = re.compile(r"^(?:RUN )?\|(\d+) ")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_CONTENT_HASH = re.compile(r"\b((?:file|dir|multi):)([0-9a-f]{12})[0-9a-f]{52}\b")
_INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE HEALTHCHECK LABEL MAINTAINER ONBUILD RUN "
    "SHELL STOPSIGNAL USER VOLUME WORKDIR".split()
)
# Instructions that only change the image config. The classic builder can commit a
# layer for COPY, ADD and WORKDIR even when the layer holds 0 bytes.
_METADATA_ONLY = _INSTRUCTIONS - {"ADD", "COPY", "RUN", "WORKDIR"}
#: The shell a RUN row starts with unless a ``SHELL`` instruction changed it.
DEFAULT_SHELL = ("/bin/sh", "-c")
#: What a hidden build-arg value is shown as.
MASK = "***"


@dataclass(frozen=True)
class _ArgSpans:
    """Where the build args of a RUN row's ``CreatedBy`` are (offsets into it)."""

    args: tuple[tuple[str, int, int], ...]
    """``(name, value start, value end)`` of each ``NAME=value``."""
    command: int
    """Where the command after them starts."""


def _arg_spans(created_by: str, shells: Sequence[Sequence[str]] = (DEFAULT_SHELL,)) -> _ArgSpans:
    """Find the ``|N NAME=value ...`` prefix the builders write before a RUN command.

    dockerd (``prependEnvOnCmd``) and BuildKit (``runCommandString``) join ``|N``, the
    N ``NAME=value`` pairs and the command words with single spaces and quote nothing,
    so a value may hold spaces. A pair ends where the next ``NAME=`` word starts; the
    last one ends where the shell starts (``/bin/sh -c``, or the image's ``SHELL``).
    Only an exec-form RUN (no shell to find) falls back on the last value's first word.
    """
    head = _ARGS_PREFIX.match(created_by)
    if not head:
        return _ArgSpans((), 0)
    count = int(head.group(1))
    words = [(m.start(), m.end()) for m in re.finditer(r"[^ ]+", created_by[head.end() :])]
    words = [(a + head.end(), b + head.end()) for a, b in words]
    if not count or not words or not _ASSIGNMENT.match(created_by, words[0][0]):
        return _ArgSpans((), head.end())
    starts = [0]
    for i in range(1, len(words)):
        if len(starts) == count:
            break
        if _ASSIGNMENT.match(created_by, words[i][0]):
            starts.append(i)
    spans: list[tuple[str, int, int]] = []
    for k, i in enumerate(starts):
        name, _, _ = created_by[words[i][0] : words[i][1]].partition("=")
        value_start = words[i][0] + len(name) + 1
        if k + 1 < len(starts):
            spans.append((name, value_start, words[starts[k + 1]][0] - 1))
            continue
        ends = [
            found
            for shell in shells
            if shell
            for found in [created_by.find(" " + " ".join(shell) + " ", value_start - 1)]
            if found >= 0
        ]
        end = min(ends) if ends else words[i][1]
        spans.append((name, value_start, max(end, value_start)))
    last_end = spans[-1][2]
    return _ArgSpans(tuple(spans), min(last_end + 1, len(created_by)))


def clean_created_by(
    created_by: str, shells: Sequence[Sequence[str]] = (DEFAULT_SHELL,)
) -> tuple[str, tuple[str, ...]]:
    """Turn a history ``CreatedBy`` into the instruction a person wrote.

    Returns ``(instruction, build_args)``: ``/bin/sh -c #(nop)  ENV A=1`` becomes
    ``ENV A=1``; ``|1 X=1 /bin/sh -c make`` becomes ``RUN make`` with build args
    ``("X=1",)`` (values may hold spaces; ``shells`` are the shells a RUN row may start
    with, see :func:`_arg_spans`); exec-form or custom-``SHELL`` rows become
    ``RUN <command>``; content hashes in ``COPY file:<64 hex>`` are shortened to 12
    digits. Rows written by BuildKit (``RUN /bin/sh -c x # buildkit``, ``ENV A=1``) are
    handled too.
    """
    text = created_by.strip()
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
    if not text:
        return "", ()
    nop = _NOP.match(text)
    if nop:
        return _CONTENT_HASH.sub(r"\1\2", text[nop.end() :].strip()), ()
    keyword = text.split(None, 1)[0]
    if keyword in _INSTRUCTIONS and keyword != "RUN":
        return _CONTENT_HASH.sub(r"\1\2", text), ()
    spans = _arg_spans(text, shells)
    build_args = tuple(f"{name}={text[a:b]}" for name, a, b in spans.args)
    if spans.command:
        text = text[spans.command :].lstrip()
    elif keyword == "RUN":
        text = text[3:].lstrip()
    shell = _SHELL_C.match(text)
    if shell:
        text = text[shell.end() :]
    return "RUN " + text, build_args


@dataclass(frozen=True)
class HistoryRow:
    """One history entry: an instruction, and the layer it added if it added one."""

    instruction: str
    """What the Dockerfile said (cleaned up by :func:`clean_created_by`)."""
    created_by: str
    """The daemon's raw ``CreatedBy``."""
    size: int
    """Bytes of the layer this row added (0 for metadata-only rows)."""
    created: datetime | None
    image_id: str | None
    """The image this step committed, or None where the daemon says ``<missing>``."""
    layer: str | None
    """The ``RootFS`` diff id of the layer this row added; None if it added none."""
    adds_layer: bool | None
    """Whether the row added a layer (None: could not be told for a ``<missing>`` row)."""
    comment: str = ""
    tags: tuple[str, ...] = ()
    build_args: tuple[str, ...] = ()
    step: int | None = None
    """The Dockerfile step (``FROM`` is 1) or None for rows of the base image."""


@dataclass(frozen=True)
class ImageHistory:
    """An image's history (oldest row first) and config, drawn as a table.

    ``rows`` are in Dockerfile order. The rows up to ``base`` (the newest tagged
    ancestor, e.g. ``local/busybox:latest``) belong to the base image; ``step`` numbers
    the others like the build does (``FROM`` is step 1).
    """

    image_id: str
    tags: tuple[str, ...]
    rows: tuple[HistoryRow, ...]
    size: int
    layers: tuple[str, ...]
    created: datetime | None = None
    base: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    workdir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()
    """The config's ``SHELL`` (empty: the default ``/bin/sh -c``)."""
    hidden_build_args: tuple[str, ...] = ()
    """Build args whose values are hidden only because nothing says they are not secret
    (see :func:`mask_build_args`); ``show_build_args=True`` shows them."""

    @property
    def name(self) -> str:
        """The first tag, or the short id for an untagged image."""
        return self.tags[0] if self.tags else _short(self.image_id)

    @property
    def short_id(self) -> str:
        """The 12 hex digits the docker CLI shows."""
        return _short(self.image_id)

    @property
    def base_rows(self) -> tuple[HistoryRow, ...]:
        """The rows of the base image (empty when there is no tagged base)."""
        return tuple(r for r in self.rows if r.step is None)

    @property
    def steps(self) -> tuple[HistoryRow, ...]:
        """The rows this image's own Dockerfile added, after the base."""
        return tuple(r for r in self.rows if r.step is not None)

    def row_for_layer(self, index: int) -> HistoryRow | None:
        """The row that added ``layers[index]``, if known."""
        if 0 <= index < len(self.layers):
            for row in self.rows:
                if row.layer == self.layers[index]:
                    return row
        return None

    def __repr__(self) -> str:
        return (
            f"<ImageHistory {self.name} {self.short_id}: {format_count(len(self.rows), 'row')}, "
            f"{format_count(len(self.layers), 'layer')}, {format_size(self.size)}>"
        )

    # -- text ------------------------------------------------------------------------

    def _config_lines(self) -> list[str]:
        out: list[str] = []
        if self.entrypoint:
            out.append("ENTRYPOINT " + json.dumps(list(self.entrypoint)))
        if self.cmd:
            out.append("CMD " + json.dumps(list(self.cmd)))
        if self.workdir:
            out.append("WORKDIR " + self.workdir)
        if self.user:
            out.append("USER " + self.user)
        if self.shell:
            out.append("SHELL " + json.dumps(list(self.shell)))
        if self.exposed_ports:
            out.append("EXPOSE " + " ".join(self.exposed_ports))
        out.extend("ENV " + e for e in self.env)
        out.extend(f"LABEL {k}={v}" for k, v in sorted(self.labels.items()))
        return out

    def hidden_note(self) -> str:
        """Why some build-arg values read ``***``, and how to see them (empty if none)."""
        if not self.hidden_build_args:
            return ""
        return (
            f"build-arg values hidden ({', '.join(self.hidden_build_args)}): the image does "
            "not say which were secret. Anyone who can pull it can read them; "
            "show_build_args=True (%dockerbuild_history --show-build-args) shows them."
        )

    def __str__(self) -> str:
        head = (
            f"{self.name}  {self.short_id}  {format_size(self.size)} in "
            f"{format_count(len(self.layers), 'layer')}"
            + (f", created {_when(self.created)} UTC" if self.created else "")
            + (f", FROM {self.base}" if self.base else "")
        )
        biggest = max((r.size for r in self.rows), default=0)
        lines = [head, f"{'STEP':>4}  {'SIZE':>8}  {'':16}  {'LAYER':12}  INSTRUCTION"]
        for row in self.rows:
            step = "base" if row.step is None else str(row.step)
            layer = _short(row.layer) if row.layer else ("?" if row.adds_layer is None else "-")
            args = f"   [build args: {' '.join(row.build_args)}]" if row.build_args else ""
            lines.append(
                f"{step:>4}  {format_size(row.size):>8}  {_bar_text(row.size, biggest):16}  "
                f"{layer:12}  {_clip(row.instruction, 70)}{args}"
            )
        if self.hidden_build_args:
            lines.append(self.hidden_note())
        config = self._config_lines()
        if config:
            lines.append("config: " + "; ".join(_clip(c, 80) for c in config))
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self) if cycle else str(self))

    # -- HTML ------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        biggest = max((r.size for r in self.rows), default=0)
        head = (
            f"<b>{literal(', '.join(self.tags) or '<untagged>')}</b> "
            f"<code>{_esc(self.short_id)}</code> · {_esc(format_size(self.size))} in "
            f"{format_count(len(self.layers), 'layer')}"
            + (f" · created {_esc(_when(self.created))} UTC" if self.created else "")
            + (f" · <code>FROM {_esc(self.base)}</code>" if self.base else "")
        )
        rows = []
        for row in self.rows:
            muted = ' style="color:var(--jp-ui-font-color2,#888)"' if row.step is None else ""
            step = "base" if row.step is None else str(row.step)
            layer = _short(row.layer) if row.layer else ("?" if row.adds_layer is None else "")
            args = (
                f'<br><small title="build args are stored in the image history">build args: '
                f"{literal(' '.join(row.build_args))}</small>"
                if row.build_args
                else ""
            )
            rows.append(
                f"<tr{muted}>"
                f'<td style="{_CELL}">{_esc(step)}</td>'
                f'<td style="{_TEXT_CELL}" '
                f'title="{_esc(row.created_by)}">{literal(row.instruction)}{args}</td>'
                f'<td style="{_CELL};text-align:right">{_esc(format_size(row.size))}</td>'
                f'<td style="{_BAR_CELL}">{_bar_html(row.size, biggest)}</td>'
                f'<td style="{_CELL}" title="{_esc(row.layer or "")}"><code>{_esc(layer)}'
                "</code></td>"
                f'<td style="{_CELL}">{_esc(_when(row.created))}</td>'
                "</tr>"
            )
        header = "".join(
            f'<th style="{_CELL}">{h}</th>'
            for h in ("step", "instruction", "size", "", "layer", "created (UTC)")
        )
        note = (
            f"<div><small>{literal(self.hidden_note())}</small></div>" if self.hidden_note() else ""
        )
        config = self._config_lines()
        config_html = (
            "<details><summary>config</summary><pre>" + _esc("\n".join(config)) + "</pre></details>"
            if config
            else ""
        )
        return block(
            f"<div>{head}</div>"
            f'<table style="{_TABLE_CSS}"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{note}{config_html}",
            "jupyter-dockerbuild-history",
        )


def _assign_layers(
    rows: Sequence[dict[str, Any]],
    instructions: Sequence[str],
    layers: Sequence[str],
    layer_counts: Mapping[str, int],
) -> list[tuple[bool | None, str | None]]:
    """For each row (oldest first), whether it added a layer and which diff id.

    Exact where each row's image and its parent row's image are known (their layer
    counts differ by one); otherwise a ``<missing>`` row added a layer if its size is
    non-zero, not if it is a metadata-only instruction, and undecided rows are settled
    by the total only when that leaves no choice. Diff ids are assigned from the
    bottom up to the first undecided row and from the top down to the last one.
    """
    adds: list[bool | None] = []
    previous: int | None = 0
    for row, instruction in zip(rows, instructions, strict=True):
        image_id = row.get("Id")
        count = layer_counts.get(image_id) if isinstance(image_id, str) else None
        if count is not None and previous is not None:
            adds.append(count > previous)
        elif int(row.get("Size") or 0) > 0:
            adds.append(True)
        elif instruction.split(None, 1)[:1] and instruction.split(None, 1)[0] in _METADATA_ONLY:
            adds.append(False)
        else:
            adds.append(None)  # RUN, COPY, ADD or WORKDIR of 0 bytes: maybe a layer
        previous = count
    undecided = [i for i, a in enumerate(adds) if a is None]
    if undecided:
        missing = len(layers) - sum(1 for a in adds if a)
        if missing == 0:
            for i in undecided:
                adds[i] = False
        elif missing == len(undecided):
            for i in undecided:
                adds[i] = True
    result: list[tuple[bool | None, str | None]] = [(a, None) for a in adds]
    k = 0
    for i, a in enumerate(adds):
        if a is None or k >= len(layers):
            break
        if a:
            result[i] = (True, layers[k])
            k += 1
    if None in adds:
        k = len(layers) - 1
        for i in range(len(adds) - 1, -1, -1):
            a = adds[i]
            if a is None or k < 0:
                break
            if a:
                result[i] = (True, layers[k])
                k -= 1
    return result


def build_history(
    inspect: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    layer_counts: Mapping[str, int] | None = None,
    *,
    base_rows: tuple[str | None, int] | None = None,
) -> ImageHistory:
    """Fold the daemon's answers into an :class:`ImageHistory` (pure).

    ``inspect`` is ``GET /images/{id}/json``, ``rows`` is ``GET /images/{id}/history``
    (newest first, as the daemon sends it) and ``layer_counts`` maps the image id of
    each row to the length of its ``RootFS.Layers`` (what tells exactly which rows
    added a layer; without it sizes and instructions are used). ``base_rows`` is the
    base image's name and row count when no tagged ancestor shows it: BuildKit keeps no
    intermediate images, so every older row is ``<missing>``.
    """
    oldest_first = [dict(r) for r in reversed(rows)]
    for r in oldest_first:
        if r.get("Id") == "<missing>":
            r["Id"] = None
    layers = tuple((inspect.get("RootFS") or {}).get("Layers") or ())
    config = inspect.get("Config") or {}
    shell = tuple(config.get("Shell") or ())
    shells = (shell, DEFAULT_SHELL) if shell else (DEFAULT_SHELL,)
    cleaned = [clean_created_by(str(r.get("CreatedBy") or ""), shells) for r in oldest_first]
    assigned = _assign_layers(oldest_first, [c[0] for c in cleaned], layers, layer_counts or {})

    # The base image is the newest tagged ancestor: its rows are not this image's steps.
    base_index = -1
    for i in range(len(oldest_first) - 2, -1, -1):
        tags = [t for t in oldest_first[i].get("Tags") or [] if t != "<none>:<none>"]
        if tags:
            base_index = i
            break
    base = None
    if base_index >= 0:
        base = sorted(t for t in oldest_first[base_index]["Tags"] if t != "<none>:<none>")[0]
    elif base_rows is not None and 0 < base_rows[1] < len(oldest_first):
        base, base_index = base_rows[0], base_rows[1] - 1

    history_rows = []
    for i, (raw, (instruction, build_args), (adds, layer)) in enumerate(
        zip(oldest_first, cleaned, assigned, strict=True)
    ):
        history_rows.append(
            HistoryRow(
                instruction=instruction,
                created_by=str(raw.get("CreatedBy") or ""),
                size=int(raw.get("Size") or 0),
                created=_parse_time(raw.get("Created")),
                image_id=raw.get("Id"),
                layer=layer,
                adds_layer=adds,
                comment=str(raw.get("Comment") or ""),
                tags=tuple(t for t in raw.get("Tags") or () if t != "<none>:<none>"),
                build_args=build_args,
                step=None if i <= base_index else i - base_index + 1,
            )
        )
    return ImageHistory(
        image_id=str(inspect.get("Id", "")),
        tags=tuple(t for t in inspect.get("RepoTags") or () if t != "<none>:<none>"),
        rows=tuple(history_rows),
        size=int(inspect.get("Size") or 0),
        layers=layers,
        created=_parse_time(inspect.get("Created")),
        base=base,
        labels=dict(config.get("Labels") or {}),
        env=tuple(config.get("Env") or ()),
        entrypoint=tuple(config["Entrypoint"]) if config.get("Entrypoint") else None,
        cmd=tuple(config["Cmd"]) if config.get("Cmd") else None,
        workdir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or ""),
        exposed_ports=tuple(sorted(config.get("ExposedPorts") or {})),
        shell=shell,
    )


def mask_build_args(
    hist: ImageHistory,
    *,
    secret: Iterable[str] = (),
    known: bool = False,
    reveal: bool = False,
) -> ImageHistory:
    """Hide build-arg values in every row (``NAME=***``), except those known not secret.

    An image's history records the value of each build arg a RUN step saw, and does not
    say which were secret (a bare ``--build-arg TOKEN`` from the environment looks like
    any other). So, by default, every value is hidden. ``known=True`` says the rows
    after the base come from a build this kernel ran, whose ``secret`` names are all its
    secret args: the others were typed in the cell, and show there. ``reveal=True``
    shows every value but those in ``secret`` (the user asked: the values are in the
    image for anyone who can pull it). The raw ``created_by`` is masked too.
    """
    names = {n for n in secret if n}
    shells = (hist.shell, DEFAULT_SHELL) if hist.shell else (DEFAULT_SHELL,)
    # `ENV TOKEN=$TOKEN` copies a secret into the image: its row says `ENV TOKEN=value`
    # (up to the next NAME=) and the config's Env keeps it. Hide those of known names.
    same_name = (
        re.compile(
            r"(^|\s)(" + "|".join(map(re.escape, sorted(names))) + r")=.*?"
            r"(?=\s[A-Za-z_][A-Za-z0-9_]*=|$)"
        )
        if names
        else None
    )

    def hide_same_name(text: str) -> str:
        if same_name is None:
            return text
        return same_name.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}", text)

    hidden: set[str] = set()
    rows = []
    for row in hist.rows:
        spans = _arg_spans(row.created_by, shells)
        if not spans.args:
            if same_name is not None and not row.instruction.startswith("RUN "):
                row = replace(
                    row,
                    instruction=hide_same_name(row.instruction),
                    created_by=hide_same_name(row.created_by),
                )
            rows.append(row)
            continue
        created_by = row.created_by
        args = []
        # From the end, so earlier offsets stay valid while values are replaced.
        for name, a, b in reversed(spans.args):
            shown = name not in names and (reveal or (known and row.step is not None))
            if not shown:
                if name not in names:
                    hidden.add(name)
                created_by = created_by[:a] + MASK + created_by[b:]
            args.append(f"{name}={row.created_by[a:b] if shown else MASK}")
        rows.append(replace(row, created_by=created_by, build_args=tuple(reversed(args))))
    env = tuple(
        f"{k}={MASK}" if k in names else f"{k}={v}"
        for k, _, v in (e.partition("=") for e in hist.env)
    )
    return replace(hist, rows=tuple(rows), env=env, hidden_build_args=tuple(sorted(hidden)))


def history(
    image: Any,
    client: DockerClient | None = None,
    *,
    secret_args: Iterable[str] | None = None,
    show_build_args: bool = False,
) -> ImageHistory:
    """Return the layers and config of ``image`` (a tag, an id or a ``BuildResult``).

    Asks ``/images/{id}/history`` and ``/images/{id}/json``, then the layer count of
    each row's image, which tells exactly which rows added a layer (one request per
    row; rows of pulled images have no image and fall back on their sizes). Raises
    :class:`ImageNotFound` if the image is not on the daemon.

    Build-arg values are hidden (``TOKEN=***``): the image does not say which were
    secret. A ``BuildResult`` does, so its own steps show the others. With
    ``show_build_args=True`` every value shows but those of ``secret_args`` and of the
    result's secret args: what ``docker history`` shows anyone who can pull the image.
    """
    with _using(client) as c:
        info = _inspect(c, _reference(image))
        image_id = str(info["Id"])
        rows = list(c.get_json(f"/images/{quote(image_id, safe='')}/history"))
        counts: dict[str, int] = {image_id: len((info.get("RootFS") or {}).get("Layers") or ())}
        for row in rows:
            row_id = row.get("Id")
            if not isinstance(row_id, str) or row_id == "<missing>" or row_id in counts:
                continue
            try:
                row_info = _inspect(c, row_id)
            except ImageNotFound:
                continue  # removed meanwhile: that row falls back on its size
            counts[row_id] = len((row_info.get("RootFS") or {}).get("Layers") or ())
        hist = build_history(info, rows, counts, base_rows=_untagged_base(c, image, info, rows))
    # A BuildResult knows which of its build args were secret (env, form toggle, proxy).
    known = not isinstance(image, str) and hasattr(image, "secret_build_args")
    secret = {*(secret_args or ()), *(getattr(image, "secret_build_args", ()) or ())}
    return mask_build_args(hist, secret=secret, known=known, reveal=show_build_args)


_FROM_VERTEX_RE = re.compile(r"\[[^\]]*\] FROM (?:--\S+ )*(\S+)")
_BUILDKIT_COMMENT = "buildkit.dockerfile.v0"


def _untagged_base(
    client: DockerClient, image: Any, info: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> tuple[str | None, int] | None:
    """The base of a BuildKit-built image (no tagged ancestor row): name, row count.

    A BuildKit result names its base in its FROM steps: the one whose layers and rows
    the image starts with is the base. Otherwise the rows BuildKit's Dockerfile
    frontend wrote (comment ``buildkit.dockerfile.v0``) are the image's own steps.
    """
    oldest = list(reversed(rows))
    if any(t != "<none>:<none>" for r in oldest[:-1] for t in (r.get("Tags") or ())):
        return None  # the classic builder's ancestry names the base itself
    layers = list((info.get("RootFS") or {}).get("Layers") or ())
    best: tuple[str | None, int] | None = None
    for step in getattr(image, "steps", ()) if getattr(image, "builder", "") == "buildkit" else ():
        match = _FROM_VERTEX_RE.match(step.instruction)
        if not match:
            continue
        try:
            base = _inspect(client, match.group(1))
        except ImageNotFound:
            continue
        base_rows = list(client.get_json(f"/images/{quote(str(base['Id']), safe='')}/history"))
        base_layers = list((base.get("RootFS") or {}).get("Layers") or ())
        n = len(base_rows)
        same_rows = [r.get("CreatedBy") for r in reversed(base_rows)] == [
            r.get("CreatedBy") for r in oldest[:n]
        ]
        if same_rows and layers[: len(base_layers)] == base_layers and n < len(oldest):
            tags = sorted(t for t in base.get("RepoTags") or () if t != "<none>:<none>")
            if best is None or n > best[1]:
                best = (tags[0] if tags else match.group(1), n)
    if best is not None:
        return best
    own = 0
    for row in reversed(oldest):
        if row.get("Comment") != _BUILDKIT_COMMENT:
            break
        own += 1
    return (None, len(oldest) - own) if 0 < own < len(oldest) else None


# --------------------------------------------------------------------------------------
# Compare
# --------------------------------------------------------------------------------------
