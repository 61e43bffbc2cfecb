"""Line magics to look at built images and clean up: wiring only, see :mod:`.images`.

``%dockerbuild_history IMAGE``, ``%dockerbuild_compare A B`` and ``%dockerbuild_prune``
return the :mod:`.images` report objects, so the notebook draws them (HTML table with
layer bars) and they can be kept: ``h = %dockerbuild_history myimg:1``. ``IMAGE`` is a
tag, an image id, or the name of a variable holding a ``BuildResult``; ``{expr}``
expands a Python expression as in every line magic. Flags are declared once with
:mod:`IPython.core.magic_arguments`, so ``%dockerbuild_prune?`` documents them all.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..errors import OptionsError

__all__ = ["ImageMagics", "register"]


@magics_class
class ImageMagics(Magics):
    """Inspect, compare and prune the images notebook builds make."""

    def _client(self) -> Any:
        """A client for the daemon ``%%dockerbuild`` uses (its ``host`` setting)."""
        from ..engine.client import DockerClient

        host = None
        registry = getattr(getattr(self.shell, "magics_manager", None), "registry", {})
        build_magics = registry.get("DockerBuildMagics")
        if build_magics is not None:
            host = getattr(build_magics, "host", None)
        return DockerClient(host)

    def _image(self, name: str) -> Any:
        """A variable holding a ``BuildResult`` (anything with ``image_id``) or the text."""
        user_ns = getattr(self.shell, "user_ns", None) or {}
        if name.isidentifier() and hasattr(user_ns.get(name), "image_id"):
            return user_ns[name]
        return name

    def _parse(self, func: Any, line: str) -> Any:
        try:
            return parse_argstring(func, line)
        except Exception as exc:  # argparse's UsageError: keep it one line
            raise OptionsError(f"%{func.__name__}: {exc}") from None

    @magic_arguments()
    @argument(
        "--show-build-args",
        action="store_true",
        help="Show the build-arg values the image records (anyone who can pull it can "
        "read them). Without it they read NAME=***, except the non-secret ones of a "
        "BuildResult variable; its secret ones stay hidden either way.",
    )
    @argument(
        "image",
        metavar="IMAGE",
        help="A tag (myimg:1), an image id, or the name of a variable holding a BuildResult.",
    )
    @line_magic
    def dockerbuild_history(self, line: str) -> Any:
        """Show an image's layers, oldest first: the instruction, size and layer of each.

        Each layer gets a bar proportional to its size, so the biggest stand out.
        Rows of the base image are greyed out. Build-arg values are hidden unless
        --show-build-args is given: an image does not say which were secret. Returns an
        ``ImageHistory``.
        """
        from ..images.history import history

        args = self._parse(self.dockerbuild_history, line)
        client = self._client()
        try:
            return history(
                self._image(args.image), client=client, show_build_args=args.show_build_args
            )
        finally:
            client.close()

    @magic_arguments()
    @argument("a", metavar="A", help="An image: tag, id, or variable holding a BuildResult.")
    @argument("b", metavar="B", help="Another image, e.g. the rebuild of A.")
    @line_magic
    def dockerbuild_compare(self, line: str) -> Any:
        """Compare two images: the layers they share, and where the rebuild starts.

        Shows which leading layers A and B share (stored once, reused from the cache),
        from which step on the newer one was rebuilt, and the size difference.
        Returns an ``ImageComparison``.
        """
        from ..images.compare import compare

        args = self._parse(self.dockerbuild_compare, line)
        client = self._client()
        try:
            return compare(self._image(args.a), self._image(args.b), client=client)
        finally:
            client.close()

    @magic_arguments()
    @argument(
        "--dry-run",
        "-n",
        action="store_true",
        help="List what would be removed and the space it would free; remove nothing.",
    )
    @argument(
        "--no-build-cache",
        action="store_true",
        help="Leave the build cache alone (POST /build/prune). It is shared by every "
        "build on the daemon; on the classic builder it is empty anyway: its cache is "
        "the intermediate images.",
    )
    @argument(
        "--no-dangling",
        action="store_true",
        help="Keep dangling images (untagged images nothing is built on, e.g. the old "
        "image after a tag was rebuilt, or what a failed build left).",
    )
    @argument(
        "--no-containers",
        action="store_true",
        help="Keep the stopped containers builds left (the steps of --rm=false builds, "
        "failed steps of --force-rm=false builds). Other containers are never touched.",
    )
    @argument(
        "--tag",
        "-t",
        action="append",
        default=[],
        metavar="NAME[:TAG]",
        help="Also remove this tag (the image goes too if it was its last tag); repeatable.",
    )
    @argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="Only prune images and containers with this label; repeatable (all must "
        "match). The build cache is then left alone: its records carry no labels.",
    )
    @line_magic
    def dockerbuild_prune(self, line: str) -> Any:
        """Remove what builds left behind and report the space reclaimed.

        Removes containers left by builds, dangling images (with their untagged
        parents), the tags given with --tag, and the build cache. Running containers
        and containers you created are never removed. Without --label this is the
        whole daemon's, like docker image prune: on a shared daemon, other users'
        dangling images, build leftovers and build cache too. --label keeps to what
        carries it (and leaves the build cache alone). Start with --dry-run to see the
        list. Returns a ``PruneReport``.
        """
        from ..images.prune import prune

        args = self._parse(self.dockerbuild_prune, line)
        client = self._client()
        try:
            return prune(
                build_cache=not args.no_build_cache,
                dangling_images=not args.no_dangling,
                stopped_containers=not args.no_containers,
                tags=args.tag,
                dry_run=args.dry_run,
                label=args.label or None,
                client=client,
            )
        finally:
            client.close()


def register(ipython: Any) -> None:
    """Register the image magics with an IPython shell."""
    ipython.register_magics(ImageMagics)
