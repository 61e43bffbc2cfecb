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
- ``RUN`` with build args records them in the history (``|1 X=1 /bin/sh -c ...``); the
  rows show them, because anyone who can pull the image can read them.
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

import html
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from .client import DockerClient, HTTPError, _vtuple
from .errors import DockerBuildError
from .options import format_size

__all__ = [
    "BuildCacheReport",
    "HistoryRow",
    "ImageComparison",
    "ImageHistory",
    "ImageNotFound",
    "PruneItem",
    "PruneReport",
    "build_history",
    "clean_created_by",
    "compare",
    "compare_histories",
    "history",
    "is_build_leftover",
    "prune",
]


class ImageNotFound(DockerBuildError, LookupError):
    """The image (tag, id or build result) is not on the daemon."""


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


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


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


# --------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------

_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL_C = re.compile(r"^/bin/sh -c\s+")
_BUILD_ARGS = re.compile(r"^\|(\d+)\s+")
_CONTENT_HASH = re.compile(r"\b((?:file|dir|multi):)([0-9a-f]{12})[0-9a-f]{52}\b")
_INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE HEALTHCHECK LABEL MAINTAINER ONBUILD RUN "
    "SHELL STOPSIGNAL USER VOLUME WORKDIR".split()
)
# Instructions that only change the image config. The classic builder can commit a
# layer for COPY, ADD and WORKDIR even when the layer holds 0 bytes.
_METADATA_ONLY = _INSTRUCTIONS - {"ADD", "COPY", "RUN", "WORKDIR"}


def clean_created_by(created_by: str) -> tuple[str, tuple[str, ...]]:
    """Turn a history ``CreatedBy`` into the instruction a person wrote.

    Returns ``(instruction, build_args)``: ``/bin/sh -c #(nop)  ENV A=1`` becomes
    ``ENV A=1``; ``|1 X=1 /bin/sh -c make`` becomes ``RUN make`` with build args
    ``("X=1",)``; exec-form or custom-``SHELL`` rows become ``RUN <command>``; content
    hashes in ``COPY file:<64 hex>`` are shortened to 12 digits. Rows written by
    BuildKit (``RUN /bin/sh -c x # buildkit``, ``ENV A=1``) are handled too.
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
    if keyword == "RUN":
        text = text[3:].lstrip()
    build_args: list[str] = []
    args = _BUILD_ARGS.match(text)
    if args:
        rest = text[args.end() :]
        # The daemon joins "k=v" pairs with spaces without quoting; take the N words
        # that look like assignments (a value with a space would be cut, rarely).
        words = rest.split(" ")
        taken = 0
        while taken < int(args.group(1)) and taken < len(words) and "=" in words[taken]:
            taken += 1
        build_args = words[:taken]
        text = " ".join(words[taken:]).lstrip()
    shell = _SHELL_C.match(text)
    if shell:
        text = text[shell.end() :]
    return "RUN " + text, tuple(build_args)


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
            f"<ImageHistory {self.name} {self.short_id}: {len(self.rows)} rows, "
            f"{len(self.layers)} layers, {format_size(self.size)}>"
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
        if self.exposed_ports:
            out.append("EXPOSE " + " ".join(self.exposed_ports))
        out.extend("ENV " + e for e in self.env)
        out.extend(f"LABEL {k}={v}" for k, v in sorted(self.labels.items()))
        return out

    def __str__(self) -> str:
        head = (
            f"{self.name}  {self.short_id}  {format_size(self.size)} in "
            f"{len(self.layers)} layers"
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
            f"<b>{_esc(', '.join(self.tags) or '<untagged>')}</b> "
            f"<code>{_esc(self.short_id)}</code> · {_esc(format_size(self.size))} in "
            f"{len(self.layers)} layers"
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
                f"{_esc(' '.join(row.build_args))}</small>"
                if row.build_args
                else ""
            )
            rows.append(
                f"<tr{muted}>"
                f'<td style="{_CELL}">{_esc(step)}</td>'
                f'<td style="{_CELL};white-space:pre-wrap;max-width:40em" '
                f'title="{_esc(row.created_by)}">{_esc(row.instruction)}{args}</td>'
                f'<td style="{_CELL};text-align:right">{_esc(format_size(row.size))}</td>'
                f'<td style="{_CELL};width:12em">{_bar_html(row.size, biggest)}</td>'
                f'<td style="{_CELL}" title="{_esc(row.layer or "")}"><code>{_esc(layer)}'
                "</code></td>"
                f'<td style="{_CELL}">{_esc(_when(row.created))}</td>'
                "</tr>"
            )
        header = "".join(
            f'<th style="{_CELL}">{h}</th>'
            for h in ("step", "instruction", "size", "", "layer", "created (UTC)")
        )
        config = self._config_lines()
        config_html = (
            "<details><summary>config</summary><pre>" + _esc("\n".join(config)) + "</pre></details>"
            if config
            else ""
        )
        return (
            f'<div class="jupyter-dockerbuild-history"><div>{head}</div>'
            f'<table style="{_TABLE_CSS}"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{config_html}</div>"
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
) -> ImageHistory:
    """Fold the daemon's answers into an :class:`ImageHistory` (pure).

    ``inspect`` is ``GET /images/{id}/json``, ``rows`` is ``GET /images/{id}/history``
    (newest first, as the daemon sends it) and ``layer_counts`` maps the image id of
    each row to the length of its ``RootFS.Layers`` (what tells exactly which rows
    added a layer; without it sizes and instructions are used).
    """
    oldest_first = [dict(r) for r in reversed(rows)]
    for r in oldest_first:
        if r.get("Id") == "<missing>":
            r["Id"] = None
    layers = tuple((inspect.get("RootFS") or {}).get("Layers") or ())
    cleaned = [clean_created_by(str(r.get("CreatedBy") or "")) for r in oldest_first]
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
    config = inspect.get("Config") or {}
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
    )


def mask_secret_args(hist: ImageHistory, secret_args: Iterable[str]) -> ImageHistory:
    """Replace the values of the named build args in every row by ``***``.

    The classic builder records ``|1 TOKEN=value`` in the history of each RUN step;
    that is readable by anyone with the image (the form warns about it), but our own
    displays must not repeat a value the user asked us to keep secret.
    """
    names = {n for n in secret_args if n}
    if not names:
        return hist
    pattern = re.compile(r"(^|\s)(" + "|".join(map(re.escape, sorted(names))) + r")=\S*")

    def hide(text: str) -> str:
        return pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}=***", text)

    rows = [
        replace(
            row,
            created_by=hide(row.created_by),
            instruction=hide(row.instruction),
            build_args=tuple(hide(a) for a in row.build_args),
        )
        for row in hist.rows
    ]
    return replace(hist, rows=tuple(rows))


def history(
    image: Any,
    client: DockerClient | None = None,
    *,
    secret_args: Iterable[str] | None = None,
) -> ImageHistory:
    """Return the layers and config of ``image`` (a tag, an id or a ``BuildResult``).

    Asks ``/images/{id}/history`` and ``/images/{id}/json``, then the layer count of
    each row's image, which tells exactly which rows added a layer (one request per
    row; rows of pulled images have no image and fall back on their sizes). Raises
    :class:`ImageNotFound` if the image is not on the daemon.
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
        hist = build_history(info, rows, counts)
    # A BuildResult knows which of its build args were secret (env or form toggle).
    if secret_args is None:
        secret_args = getattr(image, "secret_build_args", ()) or ()
    return mask_secret_args(hist, secret_args)


# --------------------------------------------------------------------------------------
# Compare
# --------------------------------------------------------------------------------------


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
                f"The first {self.shared_layers} of {new.name}'s {total} layers "
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
                f" From {where} on, everything was rebuilt: {n_steps} step{'s' * (n_steps != 1)}, "
                f"{n_layers} new layer{'s' * (n_layers != 1)} "
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
            f"{self.shared_layers} shared layers, {self.shared_rows} shared steps>"
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
            f"<b>{_esc(self.a.name)}</b> <code>{_esc(self.a.short_id)}</code> "
            f"({_esc(format_size(self.a.size))}) vs <b>{_esc(self.b.name)}</b> "
            f"<code>{_esc(self.b.short_id)}</code> ({_esc(format_size(self.b.size))}): "
            f"{_esc(_signed_size(self.size_difference))}"
        )
        summary = f"<p>{_esc(self.summary())}</p>"
        if self.identical:
            return f'<div class="jupyter-dockerbuild-compare">{head}{summary}</div>'
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
                f'<tr><th colspan="5" style="{_CELL};padding-top:6px">{_esc(label)}</th></tr>'
            )
            style = f' style="color:{text_color}"' if text_color else ""
            for row in rows:
                step = "base" if row.step is None else str(row.step)
                body.append(
                    f"<tr{style}>"
                    f'<td style="{_CELL}">{_esc(step)}</td>'
                    f'<td style="{_CELL};white-space:pre-wrap;max-width:40em">'
                    f"{_esc(row.instruction)}</td>"
                    f'<td style="{_CELL};text-align:right">{_esc(format_size(row.size))}</td>'
                    f'<td style="{_CELL};width:12em">{_bar_html(row.size, biggest, color)}</td>'
                    f'<td style="{_CELL}"><code>{_esc(_short(row.layer) if row.layer else "")}'
                    "</code></td></tr>"
                )
        return (
            f'<div class="jupyter-dockerbuild-compare"><div>{head}</div>{summary}'
            f'<table style="{_TABLE_CSS}"><tbody>{"".join(body)}</tbody></table></div>'
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

_FULL_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class PruneItem:
    """One thing prune removes, would remove, or keeps (with the reason)."""

    kind: str
    """``"container"``, ``"image"`` (dangling) or ``"tag"``."""
    id: str
    """The container or image id, or the tag."""
    name: str
    """What to show: the container's name, the image's short id, the tag."""
    detail: str
    size: int | None
    """Bytes it frees: the container's writable layer, the image's unique size."""
    action: str
    """``"remove"``, ``"untag"``, ``"untag and delete"`` or ``"keep"``."""
    reason: str = ""
    done: bool = False
    error: str | None = None

    @property
    def planned(self) -> bool:
        """True unless the item is listed only to say why it is kept."""
        return self.action != "keep"


@dataclass(frozen=True)
class BuildCacheReport:
    """What ``POST /build/prune`` removed (or, in a dry run, the cache it would see)."""

    builder: str
    """``"classic"`` or ``"buildkit"``: the daemon's default builder (``/_ping``)."""
    entries: tuple[tuple[str, str, int], ...]
    """(id, description, size) of BuildKit cache records (``/system/df``)."""
    reclaimed: int
    done: bool = False

    @property
    def note(self) -> str:
        """Why the build cache frees what it frees."""
        if self.builder == "classic" and not self.entries:
            return (
                "this daemon builds with the classic builder, which keeps no separate build "
                "cache: its cache is each build's intermediate images, deleted together with "
                "the dangling images above. /build/prune clears BuildKit's cache only, "
                "so it reclaims 0 B here."
            )
        return f"{len(self.entries)} BuildKit cache records"


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` removed (or would remove, with ``dry_run``), and the space."""

    dry_run: bool
    items: tuple[PruneItem, ...]
    build_cache: BuildCacheReport | None = None
    deleted_images: tuple[str, ...] = ()
    """Every image id the daemon deleted, intermediate parents included."""

    @property
    def planned(self) -> tuple[PruneItem, ...]:
        """The items to remove (without those kept)."""
        return tuple(i for i in self.items if i.planned)

    @property
    def removed(self) -> tuple[PruneItem, ...]:
        """The items actually removed (empty for a dry run)."""
        return tuple(i for i in self.items if i.done)

    @property
    def failed(self) -> tuple[PruneItem, ...]:
        """The items the daemon refused to remove."""
        return tuple(i for i in self.items if i.error)

    @property
    def reclaimed(self) -> int:
        """Bytes freed (dry run: would be freed); images count their unique size."""
        items = self.planned if self.dry_run else self.removed
        cache = self.build_cache.reclaimed if self.build_cache else 0
        return sum(i.size or 0 for i in items) + cache

    def __repr__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        count = len(self.planned if self.dry_run else self.removed)
        return f"<PruneReport {verb} {count} items, {format_size(self.reclaimed)}>"

    def _status(self, item: PruneItem) -> str:
        if not item.planned:
            return "keep: " + item.reason
        if item.error:
            return "failed: " + item.error
        if self.dry_run:
            return "would " + item.action
        return {"remove": "removed", "untag": "untagged"}.get(item.action, "untagged, deleted")

    def headline(self) -> str:
        """One sentence: how much, how many."""
        if self.dry_run:
            count = len(self.planned)
            if not count and not self.reclaimed:
                return "Dry run: nothing to prune."
            return (
                f"Dry run: would remove {count} item{'s' * (count != 1)} and reclaim "
                f"≈{format_size(self.reclaimed)}. Nothing was removed."
            )
        count = len(self.removed)
        if not count and not self.failed and not self.reclaimed:
            return "Nothing to prune."
        text = f"Removed {count} item{'s' * (count != 1)}, reclaimed ≈{format_size(self.reclaimed)}"
        if self.deleted_images:
            text += f" ({len(self.deleted_images)} images deleted, intermediate ones included)"
        if self.failed:
            text += f"; {len(self.failed)} could not be removed"
        return text + "."

    def __str__(self) -> str:
        lines = [self.headline()]
        for item in self.items:
            lines.append(
                f"  {item.kind:9} {_clip(item.name, 40):40} {_size(item.size):>8}  "
                f"{self._status(item)}" + (f"  ({_clip(item.detail, 60)})" if item.detail else "")
            )
        if self.build_cache is not None:
            verb = "would reclaim" if self.dry_run else "reclaimed"
            lines.append(
                f"  build cache: {verb} {format_size(self.build_cache.reclaimed)}: "
                f"{self.build_cache.note}"
            )
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self) if cycle else str(self))

    def _repr_html_(self) -> str:
        rows = []
        for item in self.items:
            muted = "" if item.planned else ' style="color:var(--jp-ui-font-color2,#888)"'
            rows.append(
                f"<tr{muted}>"
                f'<td style="{_CELL}">{_esc(item.kind)}</td>'
                f'<td style="{_CELL}" title="{_esc(item.id)}"><code>{_esc(item.name)}</code></td>'
                f'<td style="{_CELL};text-align:right">{_esc(_size(item.size))}</td>'
                f'<td style="{_CELL}">{_esc(self._status(item))}</td>'
                f'<td style="{_CELL};white-space:pre-wrap;max-width:40em">{_esc(item.detail)}</td>'
                "</tr>"
            )
        if self.build_cache is not None:
            verb = "would reclaim" if self.dry_run else "reclaimed"
            rows.append(
                f'<tr><td style="{_CELL}">build cache</td><td style="{_CELL}"></td>'
                f'<td style="{_CELL};text-align:right">'
                f"{_esc(format_size(self.build_cache.reclaimed))}</td>"
                f'<td style="{_CELL}">{verb}</td>'
                f'<td style="{_CELL};white-space:pre-wrap;max-width:40em">'
                f"{_esc(self.build_cache.note)}</td></tr>"
            )
        header = "".join(
            f'<th style="{_CELL}">{h}</th>' for h in ("what", "name", "size", "status", "detail")
        )
        return (
            f'<div class="jupyter-dockerbuild-prune"><b>{_esc(self.headline())}</b>'
            f'<table style="{_TABLE_CSS}"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )


def is_build_leftover(container: Mapping[str, Any], committed_from: bool) -> bool:
    """Whether an inspected container is one a build left behind (pure).

    ``committed_from`` says a child image of the container's image was committed from
    it (its ``Container`` field), which is how every step of an ``rm=False`` build
    ends; without that record (the containerd image store) a metadata step is known by
    the classic builder's ``#(nop)`` command. A failed RUN step (``forcerm=False``)
    commits nothing; it is recognised by what the classic builder always sets: a full
    image id, the ``none`` log driver and a disabled healthcheck, and an exit. Running
    containers are never leftovers.
    """
    state = (container.get("State") or {}).get("Status")
    config = container.get("Config") or {}
    log_type = ((container.get("HostConfig") or {}).get("LogConfig") or {}).get("Type")
    if state not in ("created", "exited"):
        return False
    if not _FULL_ID.match(str(config.get("Image") or "")) or log_type != "none":
        return False
    if committed_from:
        return True
    if state == "created" and "#(nop) " in (config.get("Cmd") or []):
        # A metadata step (ENV, LABEL ...) of an rm=False build, by the classic builder's
        # marker, where the daemon does not record what was committed from it: the
        # containerd image store keeps no ``Container``.
        return True
    healthcheck = (config.get("Healthcheck") or {}).get("Test")
    return state == "exited" and healthcheck == ["NONE"]


def _normalize_tag(tag: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if tag.startswith(prefix):
            tag = tag[len(prefix) :]
    last = tag.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        tag += ":latest"
    return tag


def _disk_usage(client: DockerClient) -> dict[str, Any] | None:
    """``GET /system/df``, retried: dockerd runs one disk-usage computation at a time."""
    for attempt in range(20):
        try:
            return dict(client.get_json("/system/df"))
        except HTTPError as exc:
            if "already running" not in exc.message or attempt == 19:
                return None
            time.sleep(0.25)
    return None


def _builder_kind(client: DockerClient) -> str:
    resp = client.request("GET", "/_ping", versioned=False)
    return "buildkit" if resp.headers.get("Builder-Version", "1") == "2" else "classic"


def _label_filter(label: str | Sequence[str] | None) -> list[str]:
    if label is None:
        return []
    return [label] if isinstance(label, str) else list(label)


def _name(summary: Mapping[str, Any]) -> str:
    return str((summary.get("Names") or ["/" + summary["Id"][:12]])[0]).lstrip("/")


def _plan_containers(
    client: DockerClient, children: Mapping[str, list[str]], labels: list[str]
) -> list[PruneItem]:
    """The stopped containers builds left (see :func:`is_build_leftover`)."""
    filters: dict[str, list[str]] = {"status": ["created", "exited"]}
    if labels:
        filters["label"] = labels
    listed = client.get_json(
        "/containers/json", params={"all": "1", "size": "1", "filters": json.dumps(filters)}
    )
    items = []
    for summary in listed:
        # Cheap filter first: build containers run on a full image id.
        if not _FULL_ID.match(str(summary.get("Image") or "")):
            continue
        try:
            info = client.get_json(f"/containers/{summary['Id']}/json")
        except HTTPError as exc:
            if exc.status == 404:
                continue  # removed meanwhile
            raise
        committed = False
        for child in children.get(str(info.get("Image")), []):
            try:
                committed = _committed_from(client, child) == summary["Id"]
            except ImageNotFound:
                continue
            if committed:
                break
        if is_build_leftover(info, committed):
            failed = (info.get("State") or {}).get("ExitCode")  # an rm=False step exits 0
            kind = "failed build step" if failed else "step of an rm=False build"
            items.append(
                PruneItem(
                    kind="container",
                    id=summary["Id"],
                    name=_name(summary),
                    detail=f"{kind}, {summary.get('Status', '')}: {summary.get('Command', '')}",
                    size=int(summary.get("SizeRw") or 0),
                    action="remove",
                )
            )
    return items


def _plan_tags(
    client: DockerClient,
    tags: Sequence[str],
    children: Mapping[str, list[str]],
    users: Mapping[str, list[str]],
    unique: Mapping[str, int],
) -> list[PruneItem]:
    """Untag each tag; say whether its image goes too (its last tag, nothing on it)."""
    wanted = {_normalize_tag(t) for t in tags}
    items = []
    for tag in tags:
        item = PruneItem(kind="tag", id=tag, name=tag, detail="", size=None, action="keep")
        try:
            info = _inspect(client, tag)
        except ImageNotFound:
            items.append(replace(item, reason="no such image"))
            continue
        image_id = str(info["Id"])
        last = {_normalize_tag(t) for t in info.get("RepoTags") or []} <= wanted
        detail = f"image {_short(image_id)}"
        if last and image_id in users:
            # The daemon refuses (409) rather than leave a container's image dangling.
            reason = f"its image is used by container {users[image_id][0]}"
            items.append(replace(item, detail=detail, reason=reason))
        elif last and not children.get(image_id):
            detail = f"its last tag: image {_short(image_id)} is deleted too"
            size = unique.get(image_id)
            items.append(replace(item, detail=detail, size=size, action="untag and delete"))
        else:
            why = "it has other tags" if not last else "images are built on it"
            items.append(replace(item, detail=f"{detail} stays: {why}", size=0, action="untag"))
    return items


def _plan_images(
    client: DockerClient,
    labels: list[str],
    users: Mapping[str, list[str]],
    unique: Mapping[str, int],
) -> list[PruneItem]:
    """The dangling images, except those a container that stays still uses."""
    filters: dict[str, list[str]] = {"dangling": ["true"]}
    if labels:
        filters["label"] = labels
    items = []
    for img in client.get_json("/images/json", params={"filters": json.dumps(filters)}):
        image_id = str(img["Id"])
        created = _when(_parse_time(img.get("Created")))
        item = PruneItem(
            kind="image",
            id=image_id,
            name=_short(image_id),
            detail=f"untagged, created {created} UTC" if created else "untagged",
            size=unique.get(image_id),
            action="remove",
        )
        if image_id in users:
            item = replace(item, action="keep", reason=f"used by container {users[image_id][0]}")
        items.append(item)
    return items


def _plan(
    client: DockerClient,
    *,
    build_cache: bool,
    dangling_images: bool,
    stopped_containers: bool,
    tags: Sequence[str],
    labels: list[str],
) -> tuple[list[PruneItem], dict[str, Any] | None]:
    """Decide what to remove; asks the daemon but changes nothing.

    Also returns ``/system/df`` when it was needed (image sizes, build cache).
    """
    children: dict[str, list[str]] = {}
    for img in client.get_json("/images/json", params={"all": "1"}):
        if img.get("ParentId"):
            children.setdefault(img["ParentId"], []).append(img["Id"])
    df = _disk_usage(client) if (dangling_images or tags or build_cache) else None
    # What deleting an image frees at least: the layers no other image shares.
    unique: dict[str, int] = {}
    for img in (df or {}).get("Images") or []:
        shared = img.get("SharedSize", -1)
        if shared is not None and shared >= 0:
            unique[img["Id"]] = int(img.get("Size", 0)) - int(shared)

    items = _plan_containers(client, children, labels) if stopped_containers else []
    removing = {item.id for item in items}
    # Images a container still uses cannot go (the daemon answers 409 Conflict).
    users: dict[str, list[str]] = {}
    for cont in client.containers(all=True):
        if cont["Id"] not in removing:
            users.setdefault(str(cont.get("ImageID")), []).append(_name(cont))
    items += _plan_tags(client, tags, children, users, unique)
    if dangling_images:
        items += _plan_images(client, labels, users, unique)
    return items, df


def _execute(client: DockerClient, item: PruneItem, deleted: list[str]) -> PruneItem:
    """Remove one planned item; a refusal is recorded on the item, not raised."""
    try:
        if item.kind == "container":
            client.delete(f"/containers/{item.id}", params={"v": "1"})
            return replace(item, done=True)
        records = client.delete(f"/images/{quote(item.id, safe='')}") or []
    except HTTPError as exc:
        if exc.status == 404:
            return replace(item, error="already gone", size=0)
        return replace(item, error=exc.message)
    gone = [str(r["Deleted"]) for r in records if isinstance(r, dict) and r.get("Deleted")]
    deleted.extend(gone)
    if item.kind == "tag":
        action = "untag and delete" if gone else "untag"
        return replace(item, done=True, action=action, size=item.size if gone else 0)
    return replace(item, done=True)


def prune(
    *,
    build_cache: bool = True,
    dangling_images: bool = True,
    stopped_containers: bool = True,
    tags: Sequence[str] | None = None,
    dry_run: bool = False,
    label: str | Sequence[str] | None = None,
    client: DockerClient | None = None,
) -> PruneReport:
    """Remove what builds leave behind and return a :class:`PruneReport`.

    - ``stopped_containers``: containers left by builds, and only those: the steps of an
      ``rm=False`` build (each committed into a step image) and failed RUN steps of a
      ``forcerm=False`` build. Never a running container, never one you created.
    - ``dangling_images``: untagged images nothing is built on (``dangling=true``),
      e.g. the old image after a tag was rebuilt, or a failed build's last step; their
      untagged parents go with them. Images a kept container uses are kept.
    - ``tags``: tags to remove (e.g. those a notebook created); an image loses the tag
      and is deleted if that was its last one.
    - ``build_cache``: ``POST /build/prune?all=1``, every BuildKit cache record not in
      use (0 B on the classic builder, whose cache is the intermediate images).
    - ``label``: only images and containers carrying this label (``key`` or
      ``key=value``, or a list of them), like ``docker image prune --filter label=``.

    With ``dry_run=True`` nothing is removed and the report lists exactly what would
    be; image sizes are their unique size from ``/system/df`` (what deleting frees at
    least). A removal the daemon refuses is reported on its item, not raised.

    Don't prune while a build runs on the same daemon (e.g. one started from the form):
    between two steps its newest step image is dangling for a moment, and a leftover
    check cannot tell "not yet used" from "abandoned".
    """
    with _using(client) as c:
        items, df = _plan(
            c,
            build_cache=build_cache and dry_run,
            dangling_images=dangling_images,
            stopped_containers=stopped_containers,
            tags=list(tags or ()),
            labels=_label_filter(label),
        )
        cache: BuildCacheReport | None = None
        if dry_run:
            if build_cache:
                unused = [e for e in (df or {}).get("BuildCache") or [] if not e.get("InUse")]
                cache = BuildCacheReport(
                    builder=_builder_kind(c),
                    entries=tuple(
                        (str(e.get("ID", "")), str(e.get("Description", "")), int(e.get("Size", 0)))
                        for e in unused
                    ),
                    # A record shared with an image frees nothing: the image keeps the data.
                    reclaimed=sum(int(e.get("Size", 0)) for e in unused if not e.get("Shared")),
                )
            return PruneReport(dry_run=True, items=tuple(items), build_cache=cache)

        deleted: list[str] = []
        done = list(items)
        # Containers first: an image a container uses cannot be deleted.
        order = {"container": 0, "tag": 1, "image": 2}
        for n in sorted(range(len(items)), key=lambda n: order[items[n].kind]):
            if items[n].planned:
                done[n] = _execute(c, items[n], deleted)
        if build_cache:
            answer = c.post_json("/build/prune", params={"all": "1"}) or {}
            cache = BuildCacheReport(
                builder=_builder_kind(c),
                entries=tuple((str(x), "", 0) for x in answer.get("CachesDeleted") or []),
                reclaimed=int(answer.get("SpaceReclaimed") or 0),
                done=True,
            )
        return PruneReport(
            dry_run=False, items=tuple(done), build_cache=cache, deleted_images=tuple(deleted)
        )
