"""A small local base image, so notebooks and tests never need a registry.

``ensure_base_image()`` builds ``local/busybox:latest`` ``FROM scratch`` with the host's
statically linked busybox (Debian's ``busybox-static``) when the daemon does not have it
yet. Every tutorial starts with it; with a registry you would write
``FROM python:3.12-slim`` instead.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile

from ..engine.client import DockerClient
from ..errors import ContextError

BASE_IMAGE = "local/busybox:latest"
_LABEL = "org.jupyter-dockerbuild.base"

_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
"""


def _is_static_elf(path: str) -> bool:
    """True if ``path`` is an ELF executable without a dynamic loader (PT_INTERP)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF":
                return False
            is64 = head[4] == 2
            endian = "<" if head[5] == 1 else ">"
            if is64:
                (phoff,) = struct.unpack_from(endian + "Q", head, 32)
                phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
            else:
                (phoff,) = struct.unpack_from(endian + "I", head, 28)
                phentsize, phnum = struct.unpack_from(endian + "HH", head, 42)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
    except OSError:
        return False
    for i in range(phnum):
        (p_type,) = struct.unpack_from(endian + "I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP: needs ld.so, which a FROM scratch image lacks
            return False
    return True


def find_static_busybox() -> str:
    """Return the path of a statically linked busybox on this machine.

    Raises :class:`ContextError` saying how to get one (``apt-get install busybox-static``).
    """
    candidates = [
        os.environ.get("DOCKERBUILD_BUSYBOX", ""),
        "/bin/busybox",
        "/usr/bin/busybox",
        shutil.which("busybox") or "",
    ]
    for path in candidates:
        if path and _is_static_elf(path):
            return path
    raise ContextError(
        "no statically linked busybox found (looked at /bin/busybox, /usr/bin/busybox and "
        "PATH); install it with 'apt-get install busybox-static' or set DOCKERBUILD_BUSYBOX"
    )


def ensure_base_image(
    name: str = BASE_IMAGE,
    *,
    host: str | None = None,
    client: DockerClient | None = None,
    rebuild: bool = False,
) -> str:
    """Make sure the local busybox base image exists on the daemon; return its name.

    Builds it from the host's static busybox only when it is missing (or ``rebuild``),
    so calling this at the top of every notebook is cheap. ``host`` and ``client``
    choose the daemon as for :func:`jupyter_dockerbuild.build`.
    """
    from .options import BuildOptions
    from .pipeline import execute

    owns = client is None
    client = client or DockerClient(host)
    try:
        if not rebuild and client.image_exists(name):
            return name
        busybox = find_static_busybox()
        options = BuildOptions.from_user(tags=[name], network="none", labels={_LABEL: "1"})
        # A directory context keeps busybox's executable bit (generated files are 0644).
        with tempfile.TemporaryDirectory(prefix="dockerbuild-base-") as tmp:
            shutil.copy2(busybox, os.path.join(tmp, "busybox"))
            # No docker config: FROM scratch pulls nothing (no credentials needed) and
            # the RUN step has no network (no proxies), so reading the config would
            # only run the user's credential helpers for nothing.
            execute(_DOCKERFILE, options, context_dir=tmp, client=client, docker_config=False)
        return name
    finally:
        if owns:
            client.close()
