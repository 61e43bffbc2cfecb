"""Remove what builds leave behind: leftover containers, dangling images, tags, build cache."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from ..engine.client import DockerClient, HTTPError
from ..errors import ImageNotFound
from ..markup import block, literal
from ..units import format_count, format_size
from .history import (
    _CELL,
    _TABLE_CSS,
    _TEXT_CELL,
    _WRAP_CELL,
    _clip,
    _committed_from,
    _esc,
    _inspect,
    _parse_time,
    _short,
    _size,
    _using,
    _when,
)

_FULL_ID = re.compile(r"^sha256:[0-9a-f]{64}$")

#: Why a label cannot limit the build cache (moby's /build/prune filters are id, parent,
#: type, description, inuse, shared and private: no label).
BUILD_CACHE_UNLABELLED = (
    "its records carry no labels, so no label can select them, and it is shared by every "
    "build on this daemon: a prune without --label clears it, for everyone."
)


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
    skipped: str = ""
    """Why the build cache was left alone (a label was given), or empty."""

    @property
    def note(self) -> str:
        """Why the build cache frees what it frees."""
        if self.skipped:
            return self.skipped
        if self.builder == "classic" and not self.entries:
            return (
                "this daemon builds with the classic builder, which keeps no separate build "
                "cache: its cache is each build's intermediate images, deleted together with "
                "the dangling images above. /build/prune clears BuildKit's cache only, "
                "so it reclaims 0 B here."
            )
        return (
            f"{format_count(len(self.entries), 'BuildKit cache record')} not in use, shared "
            "by every build on this daemon, other users' included"
        )


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` removed (or would remove, with ``dry_run``), and the space."""

    dry_run: bool
    items: tuple[PruneItem, ...]
    build_cache: BuildCacheReport | None = None
    deleted_images: tuple[str, ...] = ()
    """Every image id the daemon deleted, intermediate parents included."""
    labels: tuple[str, ...] = ()
    """The labels that selected containers and images; empty: the whole daemon."""

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
        return f"<PruneReport {verb} {format_count(count, 'item')}, {format_size(self.reclaimed)}>"

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
                f"Dry run: would remove {format_count(count, 'item')} and reclaim "
                f"≈{format_size(self.reclaimed)}. Nothing was removed."
            )
        count = len(self.removed)
        if not count and not self.failed and not self.reclaimed:
            return "Nothing to prune."
        text = f"Removed {format_count(count, 'item')}, reclaimed ≈{format_size(self.reclaimed)}"
        if self.deleted_images:
            deleted = format_count(len(self.deleted_images), "image")
            text += f" ({deleted} deleted, intermediate ones included)"
        if self.failed:
            text += f"; {len(self.failed)} could not be removed"
        return text + "."

    def scope(self) -> str:
        """What the report covers, and what in it is shared with other users."""
        if self.labels:
            return (
                f"Only containers left by builds and dangling images labelled "
                f"{' and '.join(self.labels)}."
            )
        return (
            "The whole daemon (no --label): the dangling images and build leftovers listed "
            "are anyone's, and the build cache is shared by every build on it; on a shared "
            "daemon that includes other users' work, not only this notebook's. Give --label "
            "KEY=VALUE (a LABEL your Dockerfiles set) to keep to your own."
        )

    def __str__(self) -> str:
        lines = [self.headline(), self.scope()]
        for item in self.items:
            lines.append(
                f"  {item.kind:9} {_clip(item.name, 40):40} {_size(item.size):>8}  "
                f"{self._status(item)}" + (f"  ({_clip(item.detail, 60)})" if item.detail else "")
            )
        if self.build_cache is not None:
            lines.append(f"  build cache: {self._cache_status()}: {self.build_cache.note}")
        return "\n".join(lines)

    def _cache_status(self) -> str:
        cache = self.build_cache
        if cache is None or cache.skipped:
            return "not pruned"
        verb = "would reclaim" if self.dry_run else "reclaimed"
        return f"{verb} {format_size(cache.reclaimed)}"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self) if cycle else str(self))

    def _repr_html_(self) -> str:
        rows = []
        for item in self.items:
            muted = "" if item.planned else ' style="color:var(--jp-ui-font-color2,#888)"'
            rows.append(
                f"<tr{muted}>"
                f'<td style="{_CELL}">{_esc(item.kind)}</td>'
                f'<td style="{_WRAP_CELL}" title="{_esc(item.id)}"><code>{_esc(item.name)}</code>'
                "</td>"
                f'<td style="{_CELL};text-align:right">{_esc(_size(item.size))}</td>'
                f'<td style="{_WRAP_CELL}">{literal(self._status(item))}</td>'
                f'<td style="{_TEXT_CELL}">'
                f"{literal(item.detail)}</td>"
                "</tr>"
            )
        if self.build_cache is not None:
            rows.append(
                f'<tr><td style="{_CELL}">build cache</td><td style="{_CELL}"></td>'
                f'<td style="{_CELL};text-align:right">'
                f"{_esc(format_size(self.build_cache.reclaimed))}</td>"
                f'<td style="{_WRAP_CELL}">{literal(self._cache_status())}</td>'
                f'<td style="{_TEXT_CELL}">'
                f"{literal(self.build_cache.note)}</td></tr>"
            )
        header = "".join(
            f'<th style="{_CELL}">{h}</th>' for h in ("what", "name", "size", "status", "detail")
        )
        return block(
            f"<b>{literal(self.headline())}</b><div><small>{literal(self.scope())}</small></div>"
            f'<table style="{_TABLE_CSS}"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>",
            "jupyter-dockerbuild-prune",
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
      The build cache is then left alone: its records carry no labels. Without a
      label, everything above is the whole daemon's, other users' included; the
      report says which.

    With ``dry_run=True`` nothing is removed and the report lists exactly what would
    be; image sizes are their unique size from ``/system/df`` (what deleting frees at
    least). A removal the daemon refuses is reported on its item, not raised.

    Don't prune while a build runs on the same daemon (e.g. one started from the form):
    between two steps its newest step image is dangling for a moment, and a leftover
    check cannot tell "not yet used" from "abandoned".
    """
    labels = _label_filter(label)
    with _using(client) as c:
        skip_cache = ""
        if build_cache and labels:
            # Build-cache records carry no labels: a labelled prune cannot select them,
            # and clearing all of them would clear every other user's cache too.
            skip_cache = BUILD_CACHE_UNLABELLED
            build_cache = False
        items, df = _plan(
            c,
            build_cache=build_cache and dry_run,
            dangling_images=dangling_images,
            stopped_containers=stopped_containers,
            tags=list(tags or ()),
            labels=labels,
        )
        cache: BuildCacheReport | None = None
        if skip_cache:
            cache = BuildCacheReport(
                builder=_builder_kind(c), entries=(), reclaimed=0, skipped=skip_cache
            )
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
            return PruneReport(
                dry_run=True, items=tuple(items), build_cache=cache, labels=tuple(labels)
            )

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
            dry_run=False,
            items=tuple(done),
            build_cache=cache,
            deleted_images=tuple(deleted),
            labels=tuple(labels),
        )
