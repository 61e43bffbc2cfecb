"""Image history, comparison and prune: pure folding, and against the real daemon.

Daemon tests scope every prune with a label unique to the test, so they never touch
images or containers of other tests (or people) using the same daemon.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from IPython.core.interactiveshell import InteractiveShell

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.engine.client import DockerClient, HTTPError
from jupyter_dockerbuild.errors import BuildError, DockerBuildError
from jupyter_dockerbuild.images.compare import compare, compare_histories
from jupyter_dockerbuild.images.history import (
    ImageNotFound,
    build_history,
    clean_created_by,
    history,
    mask_build_args,
)
from jupyter_dockerbuild.images.prune import (
    BuildCacheReport,
    PruneItem,
    PruneReport,
    is_build_leftover,
    prune,
)

MiB = 1024 * 1024

# -- pure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "created_by,instruction,args",
    [
        ("/bin/sh -c #(nop)  ENV A=1", "ENV A=1", ()),
        ('/bin/sh -c #(nop)  CMD ["sh"]', 'CMD ["sh"]', ()),
        ("/bin/sh -c #(nop) WORKDIR /w", "WORKDIR /w", ()),
        (
            "/bin/sh -c #(nop) COPY file:" + "ab" * 32 + " in /d ",
            "COPY file:" + "ab" * 6 + " in /d",
            (),
        ),
        ("/bin/sh -c echo hi > /f", "RUN echo hi > /f", ()),
        ("|2 X=1 Y=a=b /bin/sh -c make all", "RUN make all", ("X=1", "Y=a=b")),
        ("/bin/busybox --install -s /bin", "RUN /bin/busybox --install -s /bin", ()),
        ("/bin/bash -o pipefail -c curl x | sh", "RUN /bin/bash -o pipefail -c curl x | sh", ()),
        ("RUN |1 V=2 /bin/sh -c make # buildkit", "RUN make", ("V=2",)),
        # The daemon joins "K=V" with spaces and quotes nothing: a value with spaces runs
        # up to the shell, not to its first space (the rest is no part of the command).
        (
            "|2 A=x y T=correct horse /bin/sh -c echo hi",
            "RUN echo hi",
            ("A=x y", "T=correct horse"),
        ),
        ("|1 T=a b /bin/sh -c make # buildkit", "RUN make", ("T=a b",)),
        ("COPY . /app # buildkit", "COPY . /app", ()),
        ("ENV PATH=/x", "ENV PATH=/x", ()),
        ("", "", ()),
    ],
)
def test_clean_created_by(created_by, instruction, args):
    assert clean_created_by(created_by) == (instruction, args)


def _row(i, created_by, size, tags=None, known=True):
    return {
        "Id": f"sha256:{i:064x}" if known else "<missing>",
        "Created": 1_700_000_000 + i,
        "CreatedBy": created_by,
        "Size": size,
        "Tags": tags,
        "Comment": "",
    }


# Modelled on a real dockerd 20.10 answer: base rows, then WORKDIR (a real 0-byte layer)
# and RUN true (no layer: an empty diff is not appended). Newest first, as sent.
ROWS = [
    _row(9, "/bin/sh -c true", 0, tags=["t:1"]),
    _row(8, "/bin/sh -c #(nop) WORKDIR /w", 0),
    _row(7, "/bin/sh -c echo $X > /x", 2),
    _row(6, "/bin/sh -c #(nop)  ENV B=2", 0),
    _row(5, '/bin/sh -c #(nop)  CMD ["/bin/sh"]', 0, tags=["local/busybox:latest"]),
    _row(4, "/bin/busybox --install -s /bin", 3216),
    _row(3, "/bin/sh -c #(nop) COPY file:" + "cd" * 32 + " in /bin/busybox ", 1_982_256),
]
LAYERS = ["sha256:" + c * 64 for c in "abcd"]
COUNTS = {ROWS[i]["Id"]: n for i, n in enumerate([4, 4, 3, 2, 2, 2, 1])}
INSPECT = {
    "Id": ROWS[0]["Id"],
    "RepoTags": ["t:1"],
    "Created": "2026-11-26T22:39:59.071564568Z",
    "Size": 1_985_474,
    "RootFS": {"Type": "layers", "Layers": LAYERS},
    "Config": {
        "Env": ["PATH=/bin", "B=2"],
        "Cmd": ["/bin/sh"],
        "Entrypoint": None,
        "WorkingDir": "/w",
        "Labels": {"k": "<v>"},
    },
}


def test_build_history_exact_with_layer_counts():
    h = build_history(INSPECT, ROWS, COUNTS)
    assert [r.instruction for r in h.rows] == [
        "COPY file:" + "cd" * 6 + " in /bin/busybox",
        "RUN /bin/busybox --install -s /bin",
        'CMD ["/bin/sh"]',
        "ENV B=2",
        "RUN echo $X > /x",
        "WORKDIR /w",
        "RUN true",
    ]
    assert [r.layer for r in h.rows] == [
        LAYERS[0],
        LAYERS[1],
        None,
        None,
        LAYERS[2],
        LAYERS[3],
        None,
    ]
    assert h.base == "local/busybox:latest"
    assert [r.step for r in h.rows] == [None, None, None, 2, 3, 4, 5]
    assert h.created is not None and h.created.year == 2026
    assert h.workdir == "/w" and h.labels == {"k": "<v>"} and h.cmd == ("/bin/sh",)
    assert h.row_for_layer(3).instruction == "WORKDIR /w"


def test_build_history_without_counts_settles_zero_byte_rows_by_the_total():
    # Without image ids, WORKDIR and RUN true (both 0 bytes) are ambiguous; one layer is
    # missing from the sized rows, so the diff ids can only be assigned around them.
    rows = [dict(r, Id="<missing>") for r in ROWS]
    h = build_history(INSPECT, rows, {})
    by_instruction = {r.instruction: r for r in h.rows}
    assert by_instruction["ENV B=2"].adds_layer is False
    assert by_instruction["WORKDIR /w"].adds_layer is None
    assert by_instruction["RUN echo $X > /x"].layer == LAYERS[2]
    assert all(r.image_id is None for r in h.rows)
    assert "?" in str(h)


def test_history_renders_text_and_escaped_html():
    rows = [_row(2, "/bin/sh -c echo '<script>x</script>' > /a", 10 * MiB), *ROWS[4:]]
    h = build_history(dict(INSPECT, RepoTags=["a&b:1"]), rows, {})
    page = h._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "a&amp;b:1" in page
    assert "width:100.0%" in page  # the biggest layer has the full bar
    text = str(h)
    assert "RUN echo '<script>x</script>' > /a" in text and "10MiB" in text
    assert "█" * 16 in text


def _every_display(obj) -> str:
    """Everything a notebook or terminal can show of ``obj``: str, repr, each mimetype."""
    data, _ = InteractiveShell.instance().display_formatter.format(obj)
    return "\n".join([str(obj), repr(obj), *map(str, data.values())])


# An image built with --build-arg PLAIN=visible and a TOKEN from the environment.
ARG_ROWS = [
    _row(10, "|2 PLAIN=visible TOKEN=correct horse battery /bin/sh -c echo hi > /x", 3),
    *ROWS[1:],
]
ARG_INSPECT = dict(INSPECT, Id=ARG_ROWS[0]["Id"], RepoTags=["t:args"])


def _shown(h) -> str:
    return _every_display(h) + repr(h.rows) + _every_display(compare_histories(h, h))


def test_build_arg_values_are_hidden_unless_the_kernel_knows_or_is_asked():
    raw = build_history(ARG_INSPECT, ARG_ROWS, {})
    assert raw.rows[-1].build_args == ("PLAIN=visible", "TOKEN=correct horse battery")

    # By tag or id nothing says which args were secret: every value is hidden.
    by_tag = mask_build_args(raw)
    shown = _shown(by_tag)
    for value in ("visible", "correct", "horse", "battery"):
        assert value not in shown
    assert by_tag.rows[-1].build_args == ("PLAIN=***", "TOKEN=***")
    assert by_tag.rows[-1].instruction == "RUN echo hi > /x"
    assert "PLAIN=*** TOKEN=***" in str(by_tag) and "PLAIN=*** TOKEN=***" in by_tag._repr_html_()
    assert "show_build_args=True" in str(by_tag) and "show_build_args=True" in by_tag._repr_html_()

    # Asked for, the values show (they are in the image for anyone who can pull it) but
    # never those of args known to be secret.
    asked = mask_build_args(raw, reveal=True)
    assert "PLAIN=visible TOKEN=correct horse battery" in str(asked)
    asked_known = mask_build_args(raw, secret=["TOKEN"], reveal=True)
    assert "PLAIN=visible TOKEN=***" in str(asked_known) and "horse" not in _shown(asked_known)

    # A build this kernel ran says which args were secret: its own steps show the rest;
    # base-image rows, built elsewhere, stay hidden.
    known = mask_build_args(raw, secret=["TOKEN"], known=True)
    assert known.rows[-1].build_args == ("PLAIN=visible", "TOKEN=***")
    assert "horse" not in _shown(known) and "show_build_args" not in str(known)
    # A secret copied into the image by `ENV TOKEN=$TOKEN` is hidden from the row and config.
    env_rows = [_row(11, "/bin/sh -c #(nop)  ENV TOKEN=correct horse A=1", 0), *ARG_ROWS]
    env_inspect = dict(ARG_INSPECT, Id=env_rows[0]["Id"])
    env_inspect["Config"] = dict(INSPECT["Config"], Env=["TOKEN=correct horse", "A=1"])
    copied = mask_build_args(build_history(env_inspect, env_rows, {}), secret=["TOKEN"])
    assert "horse" not in _shown(copied) and "ENV TOKEN=*** A=1" in str(copied)
    base_args = build_history(
        ARG_INSPECT, [*ARG_ROWS[:-1], _row(3, "|1 BASE_TOKEN=b4se /bin/sh -c x", 9)], {}
    )
    assert "b4se" not in _shown(mask_build_args(base_args, secret=["TOKEN"], known=True))


def test_compare_histories_shared_prefix_and_teaching_sentence():
    a = build_history(INSPECT, ROWS, COUNTS)
    changed = [
        _row(19, "/bin/sh -c true", 0, tags=["t:2"]),
        _row(18, "/bin/sh -c #(nop) WORKDIR /v", 0),
    ]
    rows_b = changed + ROWS[2:]
    layers_b = [*LAYERS[:3], "sha256:" + "e" * 64]
    counts_b = dict(COUNTS, **{changed[0]["Id"]: 4, changed[1]["Id"]: 4})
    inspect_b = dict(INSPECT, Id=changed[0]["Id"], RepoTags=["t:2"], Created="2026-11-27T00:00:00Z")
    inspect_b["RootFS"] = {"Layers": layers_b}
    b = build_history(inspect_b, rows_b, counts_b)
    c = compare_histories(a, b)
    assert (c.shared_layers, c.shared_rows) == (3, 5)
    assert c.newer is b and c.first_rebuilt.instruction == "WORKDIR /v"
    text = c.summary()
    assert text.startswith("The first 3 of t:2's 4 layers")
    assert "From step 4 (WORKDIR /v) on, everything was rebuilt: 2 steps, 1 new layer" in text
    assert "only in t:2 (rebuilt)" in c._repr_html_()
    assert compare_histories(a, a).identical


def test_is_build_leftover():
    image = "sha256:" + "1" * 64
    step = {
        "State": {"Status": "created"},
        "Config": {"Image": image},
        "HostConfig": {"LogConfig": {"Type": "none"}},
    }
    failed = {
        "State": {"Status": "exited"},
        "Config": {"Image": image, "Healthcheck": {"Test": ["NONE"]}},
        "HostConfig": {"LogConfig": {"Type": "none"}},
    }
    assert is_build_leftover(step, committed_from=True)
    assert not is_build_leftover(step, committed_from=False)
    # Where the daemon keeps no record of the commit (containerd image store): the
    # classic builder's "#(nop)" command of a metadata step.
    nop = dict(step, Config={"Image": image, "Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV K=1"]})
    assert is_build_leftover(nop, committed_from=False)
    assert not is_build_leftover(dict(nop, State={"Status": "exited"}), committed_from=False)
    assert is_build_leftover(failed, committed_from=False)
    assert not is_build_leftover(dict(failed, State={"Status": "running"}), committed_from=True)
    user = dict(failed, Config={"Image": "myimg:1", "Healthcheck": {"Test": ["NONE"]}})
    assert not is_build_leftover(user, committed_from=True)
    logged = dict(failed, HostConfig={"LogConfig": {"Type": "json-file"}})
    assert not is_build_leftover(logged, committed_from=False)


def test_prune_report_renders():
    items = (
        PruneItem("container", "c" * 64, "brave_bob", "failed build step", 5, "remove"),
        PruneItem("image", "sha256:" + "d" * 64, "dddddddddddd", "untagged", 2 * MiB, "remove"),
        PruneItem("tag", "x:<1>", "x:<1>", "", None, "keep", reason="no such image"),
    )
    dry = PruneReport(dry_run=True, items=items)
    assert dry.reclaimed == 2 * MiB + 5
    assert "would remove 2 items" in dry.headline() and "Nothing was removed" in dry.headline()
    assert "keep: no such image" in str(dry) and "x:&lt;1&gt;" in dry._repr_html_()
    assert PruneReport(dry_run=True, items=()).headline() == "Dry run: nothing to prune."
    assert PruneReport(dry_run=False, items=()).headline() == "Nothing to prune."


# -- against the daemon -----------------------------------------------------------------

daemon = pytest.mark.daemon


def _cleanup(docker: DockerClient, label: str) -> None:
    """Remove whatever a test left with its label (containers first, then images)."""
    filters = json.dumps({"label": [label]})
    for c in docker.get_json("/containers/json", params={"all": "1", "filters": filters}):
        try:
            docker.delete(f"/containers/{c['Id']}", params={"force": "1"})
        except HTTPError:
            pass
    for img in docker.get_json("/images/json", params={"filters": filters}):
        try:
            docker.delete(f"/images/{img['Id']}", params={"force": "1"})
        except HTTPError:
            pass


@pytest.fixture
def scope(docker):
    """A label ``key=value`` unique to the test; what carries it is removed afterwards."""
    label = f"org.jupyter-dockerbuild.test-scope={uuid.uuid4().hex[:12]}"
    yield label
    _cleanup(docker, label)


@daemon
def test_history_of_a_four_step_image(docker, base_image, tag_prefix, image_store):
    dockerfile = (
        f"FROM {base_image}\n"
        "ENV GREETING=<hello>\n"
        f"RUN dd if=/dev/zero of=/big bs=1024 count=1024 && echo {tag_prefix} > /id\n"
        "COPY hello.txt /hello.txt\n"
        'CMD ["cat", "/hello.txt"]\n'
    )
    result = jd.build(dockerfile, tags=[f"{tag_prefix}:1"], files={"hello.txt": "hi\n"})
    h = history(result, client=docker)
    assert h.image_id == result.image_id and h.tags == (f"{tag_prefix}:1",)
    assert h.base == base_image
    steps = h.steps
    assert [s.instruction.split(" ", 1)[0] for s in steps] == ["ENV", "RUN", "COPY", "CMD"]
    assert steps[0].instruction == "ENV GREETING=<hello>"
    assert steps[1].instruction.startswith("RUN dd if=/dev/zero of=/big")
    assert steps[2].instruction.endswith(" in /hello.txt")
    assert [s.step for s in steps] == [2, 3, 4, 5]
    # The 1 MiB file (plus a few bytes of /id) is the RUN layer; ENV and CMD add none.
    # The containerd image store reports a layer's disk usage (4 KiB blocks), not bytes.
    blocks = 4 * 4096 if image_store == "containerd" else 0
    assert MiB <= steps[1].size < MiB + 4096 + blocks
    assert steps[0].size == 0 and steps[0].layer is None
    assert steps[3].size == 0 and steps[3].layer is None
    assert 0 < steps[2].size <= blocks if blocks else steps[2].size == 3
    assert steps[2].layer is not None
    # Every layer is attributed to exactly one row, in order.
    assert [r.layer for r in h.rows if r.layer] == list(h.layers)
    info = docker.get_json(f"/images/{tag_prefix}:1/json")
    assert h.size == info["Size"] and h.cmd == ("cat", "/hello.txt")
    assert "GREETING=<hello>" in h.env
    # The same through a tag, a short id, and the BuildResult method.
    assert history(f"{tag_prefix}:1", client=docker).rows == h.rows
    assert history(result.image_id[7:19], client=docker).rows == h.rows
    assert result.history().rows == h.rows
    page = h._repr_html_()
    assert "ENV GREETING=&lt;hello&gt;" in page and "1.0MiB" in page
    assert "GREETING=<hello>" in str(h)


@daemon
def test_history_errors_are_short(docker):
    with pytest.raises(ImageNotFound, match="no image 'no-such-image-here:1'"):
        history("no-such-image-here:1", client=docker)
    failed = type("R", (), {"image_id": None, "error": "boom"})()
    with pytest.raises(ImageNotFound, match=r"produced no image.*boom"):
        history(failed, client=docker)
    assert issubclass(ImageNotFound, DockerBuildError)


@daemon
def test_compare_two_builds_differing_in_a_late_line(docker, base_image, tag_prefix, image_store):
    def dockerfile(version: str) -> str:
        return (
            f"FROM {base_image}\n"
            f"ENV BUILD={tag_prefix}\n"
            "RUN dd if=/dev/zero of=/data bs=1024 count=256\n"
            "RUN echo stable > /stable\n"
            f"RUN echo {version} > /version\n"
        )

    first = jd.build(dockerfile("one"), tags=[f"{tag_prefix}:one"])
    second = jd.build(dockerfile("two-two"), tags=[f"{tag_prefix}:two"])
    c = compare(first, second, client=docker)
    a, b = c.a, c.b
    assert len(a.layers) == len(b.layers)
    assert c.shared_layers == len(b.layers) - 1  # base + dd + stable
    assert c.shared_rows == len(b.rows) - 1
    assert c.newer is b and c.first_rebuilt.instruction == "RUN echo two-two > /version"
    assert c.first_rebuilt.step == 5
    # "two-two\n" vs "one\n"; the containerd image store counts compressed layers and
    # reports each layer's disk usage (4 KiB blocks).
    containerd = image_store == "containerd"
    assert c.size_difference > 0 if containerd else c.size_difference == 4
    assert c.shared_size >= 256 * 1024
    summary = c.summary()
    assert f"The first {c.shared_layers} of {tag_prefix}:two's {len(b.layers)} layers" in summary
    assert "From step 5 (RUN echo two-two > /version) on, everything was rebuilt" in summary
    assert ("1 new layer (8KiB)" if containerd else "1 new layer (8B)") in summary
    assert "RUN echo one > /version" in str(c) and "RUN echo two-two" in c._repr_html_()
    assert first.compare(second).shared_layers == c.shared_layers
    assert compare(f"{tag_prefix}:one", first, client=docker).identical


def _labelled_containers(docker: DockerClient, label: str) -> set[str]:
    filters = json.dumps({"label": [label]})
    return {
        c["Id"]
        for c in docker.get_json("/containers/json", params={"all": "1", "filters": filters})
    }


@daemon
def test_prune_dry_run_lists_exactly_what_prune_removes(docker, base_image, tag_prefix, scope):
    key, _, value = scope.partition("=")
    # LABEL first, so every later step's container carries the label too.
    head = f'FROM {base_image}\nLABEL {key}="{value}"\n'
    tag = f"{tag_prefix}:x"
    old = jd.build(head + "RUN echo old > /v\n", tags=[tag])
    new = jd.build(head + "RUN echo new > /v\n", tags=[tag])  # `old` is now dangling
    kept = jd.build(head + "RUN echo kept > /k\nENV K=1\n", tags=[f"{tag_prefix}:kept"], rm=False)
    with pytest.raises(BuildError):
        jd.build(head + "RUN echo failing && exit 3\n", force_rm=False)
    leftovers = _labelled_containers(docker, scope)
    assert len(leftovers) >= 3  # RUN and ENV of the rm=False build, the failed RUN

    # Containers someone created are never leftovers, even with the label and a full id.
    user = []
    for config in (
        {"Image": f"{tag_prefix}:kept", "Cmd": ["true"]},
        {"Image": kept.image_id, "Cmd": ["true"], "HostConfig": {"LogConfig": {"Type": "none"}}},
    ):
        config["Labels"] = {key: value}
        resp = docker.request(
            "POST",
            "/containers/create",
            data=json.dumps(config),
            headers={"Content-Type": "application/json"},
        )
        user.append(resp.json()["Id"])

    dry = prune(dry_run=True, label=scope, client=docker)
    planned = {(i.kind, i.id) for i in dry.planned}
    assert planned == {("container", c) for c in leftovers} | {("image", old.image_id)}
    assert not dry.removed and docker.image_exists(old.image_id)
    assert _labelled_containers(docker, scope) == leftovers | set(user)
    # A label cannot select build-cache records: the cache is left alone, and said so.
    assert dry.build_cache is not None and dry.build_cache.skipped
    assert not dry.build_cache.entries and dry.build_cache.reclaimed == 0
    assert f"would remove {len(planned)} items" in str(dry)

    done = prune(label=scope, client=docker)
    assert {(i.kind, i.id) for i in done.removed} == planned
    assert not done.failed
    assert old.image_id in done.deleted_images
    assert not docker.image_exists(old.image_id)
    assert docker.image_exists(new.image_id) and docker.image_exists(kept.image_id)
    assert _labelled_containers(docker, scope) == set(user)
    assert done.build_cache is not None and done.build_cache.skipped
    assert not done.build_cache.done and done.build_cache.reclaimed == 0
    assert done.reclaimed >= 0 and "Removed" in done.headline()

    again = prune(dry_run=True, label=scope, client=docker)
    assert not again.planned and again.headline() == "Dry run: nothing to prune."
    assert not prune(label=scope, build_cache=False, client=docker).removed


def _buildkit_build(docker: DockerClient, marker: str) -> tuple[set[str], str]:
    """Build ``FROM scratch`` with BuildKit (no network, no syntax line): someone else's
    build, as far as a label is concerned. Returns the cache records that appeared and
    the (untagged) image id."""
    before = {e["ID"] for e in docker.get_json("/system/df").get("BuildCache") or []}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {
            "Dockerfile": b"FROM scratch\nCOPY f /f\n",
            "f": marker.encode(),
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    resp = docker.request(
        "POST",
        "/build",
        params={"version": "2", "networkmode": "none", "rm": "1"},
        data=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )
    messages = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    assert not any("error" in m for m in messages), resp.text
    image_id = next(m["aux"]["ID"] for m in messages if m.get("id") == "moby.image.id")
    after = {e["ID"] for e in docker.get_json("/system/df").get("BuildCache") or []}
    return after - before, image_id


#: Where ``_buildkit_build`` works. A BuildKit build of a tar sent as the request body
#: fails on the containerd image store before Docker 28.0: its worker fetched the context
#: from the daemon's internal ``http://build-context-ID`` over a plain HTTP client instead
#: of the request-body transport ("failed to read downloaded context"; fixed by moby
#: 8d5cf1db1e, "Use the roundtripper during build").
_BUILDKIT_TAR_CONTEXT = (
    pytest.mark.engine(store="classic", reason="BuildKit builds an uploaded tar context"),
    pytest.mark.engine(
        min_api="1.48", reason="the containerd store's BuildKit reads an uploaded tar from 28.0"
    ),
)


@daemon
@_BUILDKIT_TAR_CONTEXT[0]
@_BUILDKIT_TAR_CONTEXT[1]
def test_prune_touches_only_what_its_label_selects_and_says_what_is_shared(
    docker, base_image, tag_prefix, scope
):
    key, _, value = scope.partition("=")
    # Someone else on the daemon: a dangling image without our label, BuildKit cache.
    theirs_tag = f"{tag_prefix}:theirs"
    theirs = jd.build(f"FROM {base_image}\nRUN echo {uuid.uuid4().hex} > /t\n", tags=[theirs_tag])
    jd.build(f"FROM {base_image}\nRUN echo {uuid.uuid4().hex} > /t\n", tags=[theirs_tag])
    assert docker.get_json(f"/images/{theirs.image_id}/json")["RepoTags"] == []  # dangling
    records, buildkit_image = _buildkit_build(docker, uuid.uuid4().hex)
    assert records, "the BuildKit build left no cache record"
    # Ours: a dangling image with the label.
    head = f'FROM {base_image}\nLABEL {key}="{value}"\n'
    mine = jd.build(head + "RUN echo old > /v\n", tags=[f"{tag_prefix}:mine"])
    jd.build(head + "RUN echo new > /v\n", tags=[f"{tag_prefix}:mine"])
    try:
        dry = prune(dry_run=True, label=scope, client=docker)
        cache = dry.build_cache
        assert cache is not None and not cache.entries and cache.reclaimed == 0, (
            "a labelled dry run lists the whole daemon's build cache"
        )
        assert {i.id for i in dry.planned} == {mine.image_id}
        assert dry.reclaimed == sum(i.size or 0 for i in dry.planned)
        for shown in (str(dry), dry._repr_html_()):
            assert "no label can select" in shown and "shared by every build" in shown
            assert scope in shown

        done = prune(label=scope, client=docker)
        assert {i.id for i in done.removed} == {mine.image_id}
        left = {e["ID"] for e in docker.get_json("/system/df").get("BuildCache") or []}
        assert records <= left, "a labelled prune cleared the build cache"
        assert docker.image_exists(theirs.image_id)

        # Without a label the dry run is the whole daemon, and says so plainly.
        everything = prune(dry_run=True, stopped_containers=False, client=docker)
        assert theirs.image_id in {i.id for i in everything.planned}
        assert everything.build_cache is not None
        assert records <= {e[0] for e in everything.build_cache.entries}
        for shown in (str(everything), everything._repr_html_()):
            assert "whole daemon" in shown and "other users" in shown and "--label" in shown
    finally:
        for image in (theirs.image_id, buildkit_image):
            try:
                docker.delete(f"/images/{image}")
            except HTTPError:
                pass
        for record in records:  # one id per request: the daemon takes one value a filter
            docker.post_json(
                "/build/prune", params={"all": "1", "filters": json.dumps({"id": [record]})}
            )


@daemon
def test_prune_untags_given_tags(docker, base_image, tag_prefix, scope):
    key, _, value = scope.partition("=")
    one, two = f"{tag_prefix}:one", f"{tag_prefix}:two"
    result = jd.build(
        f'FROM {base_image}\nLABEL {key}="{value}"\nRUN echo u > /u\n', tags=[one, two]
    )
    only_tags = {"build_cache": False, "dangling_images": False, "stopped_containers": False}

    dry = prune(tags=[one, f"{tag_prefix}:missing"], dry_run=True, client=docker, **only_tags)
    assert [(i.id, i.action) for i in dry.items] == [
        (one, "untag"),
        (f"{tag_prefix}:missing", "keep"),
    ]
    assert "it has other tags" in dry.items[0].detail and dry.items[1].reason == "no such image"

    first = prune(tags=[one], client=docker, **only_tags)
    assert [(i.id, i.done) for i in first.items] == [(one, True)]
    assert not docker.image_exists(one) and docker.image_exists(two)
    assert docker.image_exists(result.image_id)

    dry_last = prune(tags=[two], dry_run=True, client=docker, **only_tags)
    assert dry_last.items[0].action == "untag and delete" and docker.image_exists(two)
    last = prune(tags=[two], client=docker, **only_tags)
    assert last.items[0].done and result.image_id in last.deleted_images
    assert not docker.image_exists(result.image_id)


@daemon
def test_prune_keeps_a_tag_whose_image_a_container_uses(docker, base_image, tag_prefix, scope):
    key, _, value = scope.partition("=")
    tag = f"{tag_prefix}:used"
    jd.build(f'FROM {base_image}\nLABEL {key}="{value}"\n', tags=[tag])
    resp = docker.request(
        "POST",
        "/containers/create",
        data=json.dumps({"Image": tag, "Cmd": ["true"], "Labels": {key: value}}),
        headers={"Content-Type": "application/json"},
    )
    cid = resp.json()["Id"]
    only_tags = {"build_cache": False, "dangling_images": False, "stopped_containers": False}
    report = prune(tags=[tag], client=docker, **only_tags)
    item = next(i for i in report.items if i.kind == "tag")
    assert item.action == "keep" and "used by container" in item.reason
    assert docker.image_exists(tag)
    assert cid not in {i.id for i in report.removed}


# -- magics ------------------------------------------------------------------------------


def test_prune_magic_documents_every_flag():
    from jupyter_dockerbuild.ipython.image_magics import ImageMagics

    text = ImageMagics.dockerbuild_prune.__doc__ or ""
    for flag in ("--dry-run", "--no-build-cache", "--no-dangling", "--no-containers", "--tag"):
        assert flag in text
    assert "IMAGE" in (ImageMagics.dockerbuild_history.__doc__ or "")


@pytest.fixture(scope="module")
def ip():
    from jupyter_dockerbuild.ipython.image_magics import register

    shell = InteractiveShell.instance()
    register(shell)
    return shell


@daemon
def test_magics_against_the_daemon(ip, docker, base_image, tag_prefix, scope):
    key, _, value = scope.partition("=")
    ip.user_ns["built"] = jd.build(
        f'FROM {base_image}\nLABEL {key}="{value}"\nRUN echo m > /m\n', tags=[f"{tag_prefix}:m"]
    )
    h = ip.run_line_magic("dockerbuild_history", "built")
    assert h.image_id == ip.user_ns["built"].image_id
    assert ip.run_line_magic("dockerbuild_history", f"{tag_prefix}:m").rows == h.rows
    c = ip.run_line_magic("dockerbuild_compare", f"built {base_image}")
    assert c.shared_layers == len(docker.get_json(f"/images/{base_image}/json")["RootFS"]["Layers"])
    report = ip.run_line_magic(
        "dockerbuild_prune", f"--dry-run --no-build-cache --label {scope} --tag {tag_prefix}:m"
    )
    assert report.dry_run and [i.id for i in report.planned] == [f"{tag_prefix}:m"]
    assert docker.image_exists(f"{tag_prefix}:m")
    res = ip.run_cell("%dockerbuild_history no-such-image-here:1")
    assert isinstance(res.error_in_exec, ImageNotFound)
    res = ip.run_cell("%dockerbuild_prune --bogus")
    assert isinstance(res.error_in_exec, DockerBuildError) and "--bogus" in str(res.error_in_exec)


@pytest.mark.daemon
def test_a_secret_build_arg_is_never_displayed_by_its_tag(
    ip, docker, base_image, tag_prefix, monkeypatch
):
    # A bare --build-arg NAME takes the kernel's environment value: the secret case.
    # The value has spaces: the daemon records "|2 HISTORY_TOKEN=hunter2 history PLAIN=...".
    monkeypatch.setenv("HISTORY_TOKEN", "hunter2 history token")
    tag = f"{tag_prefix}:secret"
    result = jd.build(
        f"FROM {base_image}\nARG HISTORY_TOKEN\nARG PLAIN\nRUN echo using-token\n",
        build_args=["HISTORY_TOKEN", "PLAIN=visible"],
        tags=[tag],
        no_cache=True,
        network="none",
    )
    assert result.secret_build_args == ("HISTORY_TOKEN",)
    raw = docker.get_json(f"/images/{tag}/history")
    assert any("hunter2 history token" in r["CreatedBy"] for r in raw)  # the test is not vacuous

    def assert_hidden(hist, where: str) -> None:
        shown = _every_display(hist) + repr(hist.rows)
        for word in ("hunter2", "history token"):
            assert word not in shown, f"the secret shows in {where}"
        assert "HISTORY_TOKEN=***" in str(hist), where

    # The result knows which arg was secret: the plain one shows.
    by_result = result.history()
    assert_hidden(by_result, "result.history()")
    assert "PLAIN=visible" in str(by_result)
    assert_hidden(history(result, show_build_args=True), "result.history(show_build_args=True)")
    # By tag (the API, the magic, compare) nothing says which was secret: no value shows.
    for hist, where in (
        (jd.history(tag), "jupyter_dockerbuild.history(TAG)"),
        (history(result.image_id, client=docker), "history(image id)"),
        (ip.run_line_magic("dockerbuild_history", tag), "%dockerbuild_history TAG"),
        (compare(tag, base_image, client=docker).a, "compare(TAG, base).a"),
    ):
        assert_hidden(hist, where)
        assert "PLAIN=***" in str(hist) and "show_build_args=True" in str(hist)
    cmp = compare(tag, result, client=docker)
    assert "hunter2" not in _every_display(cmp) + _every_display(cmp.a) + _every_display(cmp.b)
    # Asked for explicitly, the image's history shows what anyone who pulls it can read.
    asked = ip.run_line_magic("dockerbuild_history", f"--show-build-args {tag}")
    assert "HISTORY_TOKEN=hunter2 history token" in str(asked) and "PLAIN=visible" in str(asked)


def test_counts_agree_with_their_nouns():
    # One layer, one row, one shared step, one item: never "1 layers" or "1 items".
    one = build_history(dict(INSPECT, RootFS={"Layers": LAYERS[:1]}), ROWS[-1:], {})
    assert "1 row, 1 layer," in repr(one) and " in 1 layer" in str(one)
    assert " in 1 layer" in one._repr_html_()
    assert "1 shared layer, 1 shared step>" in repr(compare_histories(one, one))
    item = PruneItem("image", "sha256:" + "d" * 64, "dddddddddddd", "untagged", 1, "remove")
    assert repr(PruneReport(dry_run=True, items=(item,))).startswith(
        "<PruneReport would remove 1 item,"
    )
    done = PruneReport(dry_run=False, items=(replace(item, done=True),), deleted_images=("x",))
    assert "(1 image deleted" in done.headline()
    # Plurals stay plural.
    two = build_history(INSPECT, ROWS, COUNTS)
    assert "7 rows, 4 layers," in repr(two) and " in 4 layers" in str(two)


# -- HTML is never typeset as maths ------------------------------------------------------

# What JupyterLab's maths renderers skip. MathJax 3 (JupyterLab 4, Notebook 7) ignores
# elements of class mathjax_ignore, MathJax 2 (nbconvert's HTML, Notebook 6) those of
# class tex2jax_ignore; both, and KaTeX (jupyterlab-katex, which honours no class), skip
# the text inside these tags.
SKIPPED_TAGS = {"code", "pre", "script", "style", "textarea"}
MATH_DELIMITERS = ("$", "\\(", "\\[")


class _MathScan(HTMLParser):
    """Collects the root's classes and every text a maths renderer would typeset."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.root_classes: set[str] | None = None
        self.exposed: list[str] = []

    def handle_starttag(self, tag, attrs):
        if self.root_classes is None:
            self.root_classes = set((dict(attrs).get("class") or "").split())
        if tag not in {"br", "img", "hr", "input", "wbr"}:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if any(d in data for d in MATH_DELIMITERS) and not SKIPPED_TAGS & set(self.stack):
            self.exposed.append(data)


def assert_never_typeset(page: str) -> None:
    scan = _MathScan()
    scan.feed(page)
    assert scan.root_classes is not None and {"mathjax_ignore", "tex2jax_ignore"} <= (
        scan.root_classes
    ), f"the root element does not opt out of maths: {page[:120]}"
    assert not scan.exposed, f"text a KaTeX renderer would typeset: {scan.exposed}"


SHELL = 'for i in $(seq 1 40); do b="$b#"; done; echo \\(x\\) \\[y\\]'


def test_every_images_html_opts_out_of_maths():
    rows = [
        _row(12, f"|1 V=$HOME /bin/sh -c {SHELL}", 5, tags=["t:$"]),
        _row(11, "/bin/sh -c #(nop)  LABEL price=$5 cost=$6", 0),
        *ROWS[1:],
    ]
    h = build_history(dict(INSPECT, Id=rows[0]["Id"], RepoTags=["t:$"]), rows, {})
    for shown in (h, mask_build_args(h, reveal=True)):
        assert_never_typeset(shown._repr_html_())
        assert "$(seq 1 40)" in shown._repr_html_()  # shown, as written
    other = build_history(INSPECT, ROWS, COUNTS)
    for c in (compare_histories(h, other), compare_histories(other, h), compare_histories(h, h)):
        assert_never_typeset(c._repr_html_())
    assert "$(seq 1 40)" in compare_histories(other, h)._repr_html_()
    items = (
        PruneItem(
            "container", "c" * 64, "x", f"failed build step: /bin/sh -c {SHELL}", 1, "remove"
        ),
        PruneItem("tag", "a:$1", "a:$1", "", None, "keep", reason="no such image $2"),
    )
    cache = BuildCacheReport("buildkit", (("id", f"exec {SHELL}", 1),), 1)
    assert_never_typeset(PruneReport(dry_run=True, items=items, build_cache=cache)._repr_html_())
    assert_never_typeset(PruneReport(dry_run=False, items=())._repr_html_())
