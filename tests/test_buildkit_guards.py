"""Two refusals of the BuildKit builder that keep the daemon from looking outside.

- On the containerd image store before Docker 28, a BuildKit build of a context sent
  as the request body fails after the daemon looked up a made-up ``build-context-ID``
  host (moby/moby#47717): refused before ``/build``.
- ``--platform`` or ``FROM --platform=`` naming a platform the local base image lacks
  makes BuildKit ask the base image's registry (Docker Hub for ``local/busybox``):
  refused before ``/build``, naming the base and the platform it has. These tests never
  let such a build reach the daemon: ``DockerClient.build`` fails the test if called.
"""

from __future__ import annotations

import uuid

import pytest

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.builder.buildkit import containerd_image_store, tar_context_refusal
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.platforms import check_base_platforms, parse_platform
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.errors import DaemonError, OptionsError, UnsupportedSyntax

daemon = pytest.mark.daemon


@pytest.fixture
def builds_sent(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ``/build`` the code under test tries to send: never sent, recorded."""
    sent: list[object] = []

    def refuse(self: DockerClient, query: object, *args: object, **kwargs: object) -> object:
        sent.append(query)
        raise AssertionError("the build was sent to the daemon")

    monkeypatch.setattr(DockerClient, "build", refuse)
    return sent


# -- the containerd image store --------------------------------------------------------


@daemon
def test_the_image_store_is_read_from_info(docker, image_store) -> None:
    assert containerd_image_store(docker) is (image_store == "containerd")


@daemon
@pytest.mark.engine(store="classic", reason="the classic store's BuildKit reads a tar body")
def test_a_tar_context_is_fine_on_the_classic_image_store(docker) -> None:
    assert tar_context_refusal(docker) is None


@daemon
@pytest.mark.engine(
    store="containerd",
    max_api="1.47",
    reason="before Docker 28 the containerd store's BuildKit cannot read a tar body",
)
def test_a_tar_body_buildkit_build_is_refused_on_the_containerd_store(
    base_image, builds_sent, monkeypatch
) -> None:
    # The context as the request body (FileSync, the default there, is not refused).
    monkeypatch.setenv("JUPYTER_DOCKERBUILD_CONTEXT", "tar")
    with pytest.raises(DaemonError) as err:
        jd.build(f"FROM {base_image}\nRUN true\n", builder="buildkit", tags=[])
    message = str(err.value)
    assert "containerd image store" in message
    assert "moby/moby#47717" in message
    assert "--builder classic" in message
    assert builds_sent == []


# -- platforms the local base image lacks ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", "linux/amd64"),
        ("Linux/x86_64", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/6", "linux/arm/v6"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("amd64", None),
        ("linux//v7", None),
    ],
)
def test_platforms_are_normalized_like_containerd(text: str, expected: str | None) -> None:
    parsed = parse_platform(text)
    assert (str(parsed) if parsed else None) == expected


def test_a_variant_is_compared_only_when_asked_for() -> None:
    v3 = parse_platform("linux/amd64/v3")
    plain = parse_platform("linux/amd64")
    assert v3 and plain
    assert v3.satisfies(plain)
    assert not plain.satisfies(v3)
    assert not parse_platform("linux/arm64").satisfies(plain)  # type: ignore[union-attr]


def _local_platform(docker: DockerClient, image: str) -> str:
    info = docker.get_json(f"/images/{image}/json")
    parts = [info["Os"], info["Architecture"], info.get("Variant") or ""]
    return str(parse_platform("/".join(p for p in parts if p)))


def _foreign(here: str) -> str:
    return "linux/arm64" if here != "linux/arm64" else "linux/amd64"


@daemon
def test_from_platform_the_base_lacks_is_refused_naming_what_it_has(
    docker, base_image, builds_sent
) -> None:
    here = _local_platform(docker, base_image)
    other = _foreign(here)
    cell = f"FROM {base_image}\nRUN true\nFROM --platform={other} {base_image}\nRUN true\n"
    with pytest.raises(UnsupportedSyntax) as err:
        jd.build(cell, builder="buildkit", tags=[])
    message = str(err.value)
    assert message.startswith(f"line 3 (FROM --platform={other} {base_image}): ")
    assert f"the base image {base_image} is here only for {here}" in message
    assert f"registry (Docker Hub) for {other}" in message
    assert builds_sent == []


@daemon
def test_platform_option_the_base_lacks_is_refused(docker, base_image, builds_sent) -> None:
    here = _local_platform(docker, base_image)
    other = _foreign(here)
    with pytest.raises(OptionsError) as err:
        jd.build(f"FROM {base_image}\nRUN true\n", builder="buildkit", platform=other, tags=[])
    message = str(err.value)
    assert message.startswith(f"--platform {other}: the base image {base_image} is here only")
    assert "(line 1)" in message
    assert builds_sent == []


@daemon
def test_build_args_and_target_platform_are_substituted(docker, base_image) -> None:
    here = _local_platform(docker, base_image)
    other = _foreign(here)
    cell = (
        f"ARG P={other}\nFROM --platform=$P {base_image} AS a\n"
        f"FROM --platform=${{TARGETPLATFORM}} {base_image}\n"
    )
    with pytest.raises(UnsupportedSyntax, match=r"^line 2 "):
        check_base_platforms(docker, cell, BuildOptions(), line_offset=0)
    # --build-arg P=<here> wins over the default; TARGETPLATFORM is --platform's.
    ok = BuildOptions(build_args={"P": here})
    check_base_platforms(docker, cell, ok, line_offset=0)
    with pytest.raises(UnsupportedSyntax, match=r"^cell line 4 "):
        check_base_platforms(
            docker, cell, BuildOptions(build_args={"P": here}, platform=other), line_offset=1
        )


@daemon
def test_what_cannot_reach_a_foreign_registry_is_not_refused(docker, base_image) -> None:
    here = _local_platform(docker, base_image)
    other = _foreign(here)
    options = BuildOptions(platform=other)
    for cell in (
        f"FROM --platform={here} {base_image}\n",  # the platform it has
        f"FROM --platform=$BUILDPLATFORM {base_image}\n",  # the daemon's own
        f"FROM 127.0.0.1:5999/jdb-{uuid.uuid4().hex[:8]}\n",  # a loopback registry
        "FROM scratch\n",
        f"FROM --platform={here} {base_image} AS a\nFROM a\n",  # a stage, not an image
        "FROM --platform=$UNKNOWN local/busybox\n",  # not knowable here
    ):
        check_base_platforms(docker, cell, options, line_offset=0)
    with pytest.raises(OptionsError):
        check_base_platforms(docker, f"FROM {base_image}\n", options, line_offset=0)


@daemon
@pytest.mark.engine(store="classic", reason="BuildKit builds an uploaded tar context")
@pytest.mark.engine(min_api="1.48", reason="the containerd store's BuildKit reads a tar from 28.0")
def test_the_base_images_own_platform_builds(docker, base_image, tag_prefix) -> None:
    here = _local_platform(docker, base_image)
    tag = f"{tag_prefix}:platform"
    result = jd.build(
        f"FROM --platform={here} {base_image}\nRUN true\n", builder="buildkit", tags=[tag]
    )
    assert result.ok
    assert docker.image_exists(tag)
