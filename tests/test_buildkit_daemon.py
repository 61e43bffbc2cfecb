"""A fresh BuildKit build on the real daemon, folded as it streams.

``/build?version=2`` with a tar body and no session, ``networkmode=none`` (this daemon has
no bridge) and only the local busybox as base: the fold must see every vertex complete,
the output of the RUN steps, and the image id the daemon then reports for the tag.
"""

from __future__ import annotations

import io
import tarfile
from urllib.parse import quote

import pytest

from jupyter_dockerbuild.builder.buildkit_plain import PlainPrinter
from jupyter_dockerbuild.builder.buildkit_state import BuildKitState
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.engine.stream import JSONStreamDecoder

pytestmark = pytest.mark.daemon


def _context(dockerfile: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# 20.10 names the tags in 'Successfully tagged' stream lines, which this fold reads;
# Docker 23+ only in a 'naming to ...' vertex, which the builder's own state
# (builder/buildkit_progress.py) reads but this groundwork fold does not yet.
@pytest.mark.engine(max_api="1.41", reason="tags come as 'Successfully tagged' lines on 20.10")
def test_a_fresh_buildkit_build_folds_to_complete_vertices_and_the_daemons_image(
    docker: DockerClient, base_image: str, tag_prefix: str, no_leftover_containers: None
) -> None:
    tag = f"{tag_prefix}:bk"
    dockerfile = (
        f"FROM {base_image} AS left\n"
        'RUN echo "left=$((6*7))" | tee /left && echo left-err >&2\n'
        f"FROM {base_image}\n"
        "COPY --from=left /left /from-left\n"
        "RUN cat /from-left && echo right-ran\n"
    )
    query = [("version", "2"), ("networkmode", "none"), ("t", tag), ("nocache", "1")]
    body = iter([_context(dockerfile)])  # an iterator: requests streams it chunked
    response = docker.build(query, body, {"Content-Type": "application/x-tar"})
    decoder = JSONStreamDecoder()
    printer = PlainPrinter(BuildKitState())
    raw = bytearray()
    text = []
    try:
        for chunk in response.chunks():
            raw += chunk
            for event in decoder.feed(chunk):
                text.append(printer.feed(event))
        for event in decoder.close():
            text.append(printer.feed(event))
    finally:
        response.close()
    state = printer.state
    assert state.error is None, state.error
    assert state.vertices, (
        "no BuildKit trace in the stream: did the daemon use the classic builder?"
    )
    assert all(v.done and not v.error for v in state), [
        (v.name, v.error) for v in state if not v.done
    ]
    assert state.counts() == (len(state.vertices), len(state.vertices))
    image = docker.get_json(f"/images/{quote(tag, safe='')}/json")
    assert state.image_id == image["Id"]
    assert state.tags == [tag]
    left = next(
        v for v in state if v.label.stage == "left" and v.label.instruction.startswith("RUN")
    )
    assert left.log.tail(5, 1) == ["left=42"] and left.log.tail(5, 2) == ["left-err"]
    right = next(v for v in state if v.name.endswith("RUN cat /from-left && echo right-ran"))
    assert right.log.tail(5) == ["left=42", "right-ran"] and right.label.stage == "stage-1"
    # The same bytes fed one at a time fold to the same vertices.
    again = BuildKitState()
    bytewise = JSONStreamDecoder()
    for i in range(len(raw)):
        again.apply_many(bytewise.feed(bytes(raw[i : i + 1])))
    assert [(v.name, v.completed, v.log.text()) for v in again] == [
        (v.name, v.completed, v.log.text()) for v in state
    ]
    printed = "".join(text)
    assert f"#{1} " in printed and "left=42" in printed and " DONE " in printed
