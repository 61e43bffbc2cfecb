"""The ``%%dockerbuild`` cell magic: flags named like ``docker build``; wiring only.

The first line carries the flags, the rest of the cell is the Dockerfile. Every flag is
declared once with :mod:`IPython.core.magic_arguments`, so ``%%dockerbuild?`` lists
them all with their help. Session defaults are traitlets (``%config
DockerBuildMagics.host = "tcp://..."``).
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Float, Int, Unicode

from ..errors import BuildCancelled, ContextError, DockerBuildError, OptionsError


def _flag_bool(value: str | None, flag: str) -> bool | None:
    from ..builder.options import parse_bool

    return None if value is None else parse_bool(value, flag)


@magics_class
class DockerBuildMagics(Magics):
    """Build Docker images from notebook cells."""

    host = Unicode(
        None,
        allow_none=True,
        help="Docker daemon to use (like DOCKER_HOST: unix:///path or tcp://host:port; "
        "TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH). Default: DOCKER_HOST, then "
        "the current docker context, then unix:///var/run/docker.sock.",
    ).tag(config=True)
    widget = Bool(
        True,
        help="Show the live progress widget when the frontend can render widgets; "
        "False prints plain text like the docker CLI.",
    ).tag(config=True)
    tail_lines = Int(
        6, help="How many lines of the running step's output the progress view shows."
    ).tag(config=True)
    refresh_rate = Float(10.0, help="Most redraws per second of the progress view (throttle).").tag(
        config=True
    )

    @magic_arguments()
    @argument(
        "-t",
        "--tag",
        action="append",
        default=[],
        metavar="NAME[:TAG]",
        help="Name and optionally a tag for the image; repeat for several tags.",
    )
    @argument(
        "-f",
        "--file",
        default=None,
        metavar="PATH",
        help="Path of the Dockerfile inside the context (default: Dockerfile). The "
        "cell text is written there; when the cell has no instructions (only a "
        "comment) and --context is given, the file from the context directory is used.",
    )
    @argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="Set a build-time variable; KEY alone takes its value from the "
        "kernel's environment (and is never displayed).",
    )
    @argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Set metadata (a label) on the image; repeatable.",
    )
    @argument(
        "-m",
        "--memory",
        default=None,
        metavar="SIZE",
        help="Memory limit of RUN steps, e.g. 512m, 2g (at least 6m).",
    )
    @argument(
        "--memory-swap",
        default=None,
        metavar="SIZE",
        help="Memory plus swap limit (at least --memory), or -1 for unlimited swap.",
    )
    @argument(
        "-c",
        "--cpu-shares",
        default=None,
        metavar="N",
        help="CPU shares (relative weight, default 1024).",
    )
    @argument(
        "--cpuset-cpus",
        default=None,
        metavar="LIST",
        help="CPUs RUN steps may use, e.g. 0-1 or 0,2.",
    )
    @argument(
        "--cpu-period",
        default=None,
        metavar="USEC",
        help="CFS period in microseconds (1000-1000000).",
    )
    @argument(
        "--cpu-quota",
        default=None,
        metavar="USEC",
        help="CFS quota per period in microseconds (needs --cpu-period, >= 1000).",
    )
    @argument(
        "--shm-size",
        default=None,
        metavar="SIZE",
        help="Size of /dev/shm in RUN steps, e.g. 128m (default 64m).",
    )
    @argument(
        "--network",
        default=None,
        metavar="MODE",
        help="Network mode of RUN steps: default, none, host, or a network name.",
    )
    @argument(
        "--add-host",
        action="append",
        default=[],
        metavar="HOST:IP",
        help="Add a line to /etc/hosts of RUN steps; repeatable.",
    )
    @argument(
        "--cache-from",
        action="append",
        default=[],
        metavar="IMAGE",
        help="Images to consider as cache sources; repeatable.",
    )
    @argument("--no-cache", action="store_true", default=None, help="Do not use the build cache.")
    @argument(
        "--pull",
        action="store_true",
        default=None,
        help="Always try to pull a newer version of the base image.",
    )
    @argument(
        "--rm",
        nargs="?",
        const="true",
        default=None,
        metavar="BOOL",
        help="Remove intermediate containers after a successful build (default true; "
        "--rm=false keeps them).",
    )
    @argument(
        "--force-rm",
        nargs="?",
        const="true",
        default=None,
        metavar="BOOL",
        help="Always remove intermediate containers, even after a failure (default "
        "true here, so a failed build leaves no container).",
    )
    @argument(
        "--squash",
        action="store_true",
        default=None,
        help="Squash the new layers into one (needs an experimental daemon).",
    )
    @argument(
        "-q",
        "--quiet",
        action="store_true",
        default=None,
        help="Suppress the build output; show only the image id.",
    )
    @argument(
        "--target",
        default=None,
        metavar="STAGE",
        help="Build only up to this stage of a multi-stage Dockerfile.",
    )
    @argument(
        "--platform",
        default=None,
        metavar="OS/ARCH",
        help="Platform of the image if the daemon is multi-platform capable.",
    )
    @argument(
        "--isolation",
        default=None,
        metavar="TECH",
        help="Container isolation technology (Windows daemons).",
    )
    @argument(
        "--remote",
        default=None,
        metavar="URL",
        help="Build from a Git repository or HTTP(S) context URL instead of the cell.",
    )
    @argument(
        "--context",
        default=None,
        metavar="DIR",
        help="Also send this directory as the build context, filtered by its "
        ".dockerignore like the docker CLI does.",
    )
    @argument(
        "--var",
        action="append",
        default=[],
        metavar="PATH[=VARIABLE]",
        help="Add a notebook variable (str or bytes) to the context as the file PATH; "
        "PATH alone uses the variable of that name.",
    )
    @argument(
        "--out",
        default=None,
        metavar="NAME",
        help="Store the build result (image id, tags, steps, log) in this variable, "
        "also when the build fails; with --form, the form (its .result is the last build).",
    )
    @argument(
        "-H",
        "--host",
        dest="docker_host",
        default=None,
        metavar="HOST",
        help="Docker daemon to use, like DOCKER_HOST (unix:///path or tcp://host:port; "
        "TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH). Default: "
        "%%config DockerBuildMagics.host, then DOCKER_HOST, then the current docker "
        "context, then the local socket.",
    )
    @argument(
        "--form",
        action="store_true",
        default=False,
        help="Show an interactive form (tags, build args, resource limits, options, "
        "Build and Cancel) pre-filled with the other flags instead of building now; "
        "builds run in the background. The cell's value is the form (BuildForm).",
    )
    @argument(
        "--text",
        action="store_true",
        default=False,
        help="Print plain text progress instead of the widget.",
    )
    @cell_magic
    def dockerbuild(self, line: str, cell: str) -> Any:
        """Build a Docker image; the cell's text is the Dockerfile.

        Example::

            %%dockerbuild -t myenv:1 --build-arg PYVER=3.12 -m 2g
            FROM local/busybox:latest
            ARG PYVER
            RUN echo "python $PYVER" > /version.txt

        The cell fails (raises BuildError) when the build fails; --out NAME keeps the
        result either way.
        """
        # Only what the first paint needs is imported up front; the HTTP stack
        # (requests alone costs ~100 ms in a fresh kernel) comes after the view is up.
        from ..builder.dockerfile import parse
        from ..builder.options import BuildOptions
        from ..ui.text import make_view

        try:
            args = parse_argstring(self.dockerbuild, line)
        except Exception as exc:  # argparse's UsageError: keep it one line
            raise OptionsError(f"%%dockerbuild: {exc}") from None

        values: dict[str, Any] = {
            "tags": args.tag,
            "build_args": args.build_arg,
            "labels": args.label,
            "extra_hosts": args.add_host,
            "cache_from": args.cache_from,
        }
        for name in (
            "memory",
            "memory_swap",
            "cpu_shares",
            "cpuset_cpus",
            "cpu_period",
            "cpu_quota",
            "shm_size",
            "network",
            "target",
            "platform",
            "isolation",
            "remote",
        ):
            values[name] = getattr(args, name)
        if args.file:
            values["dockerfile"] = args.file
        for name in ("no_cache", "pull", "squash", "quiet"):
            if getattr(args, name):
                values[name] = True
        if args.rm is not None:
            values["rm"] = _flag_bool(args.rm, "--rm")
        if args.force_rm is not None:
            values["force_rm"] = _flag_bool(args.force_rm, "--force-rm")
        if args.form:
            # The form validates as it goes: invalid flags pre-fill it, flagged.
            from ..ui.form import BuildForm

            form = BuildForm(
                cell,
                host=args.docker_host or self.host,
                context_dir=args.context,
                files=self._files_from_vars(args.var),
                line_offset=1,
                tail_lines=self.tail_lines,
                refresh_rate=self.refresh_rate,
                **values,
            )
            if args.out:
                # The form's .result is the last build's result; keep the form itself.
                self.shell.user_ns[args.out] = form
            return form
        options = BuildOptions.from_user(**values)
        files = self._files_from_vars(args.var)
        dockerfile: str | None = cell
        if args.context and not parse(cell).instructions:
            # No instructions in the cell (IPython refuses a truly empty cell body, so a
            # comment will do): use the Dockerfile inside the context, like docker build DIR.
            dockerfile = None
        view = make_view(
            widget=self.widget and not args.text,
            quiet=options.quiet,
            tail_lines=self.tail_lines,
            refresh_rate=self.refresh_rate,
        )
        # execute() paints the cell's steps first, then imports the HTTP stack, and
        # closes the view whatever fails.
        from ..builder.pipeline import execute

        result = None
        try:
            result = execute(
                dockerfile,
                options,
                context_dir=args.context,
                files=files,
                host=args.docker_host or self.host,
                view=view,
                line_offset=1,  # the magic line comes before the Dockerfile's line 1
            )
        except DockerBuildError as exc:
            result = getattr(exc, "result", None)
            raise
        except KeyboardInterrupt:
            # execute already closed the connection (the daemon killed the build)
            # and the view shows "cancelled"; fail the cell with one short line
            # instead of a traceback through the HTTP stack.
            raise BuildCancelled(
                "the build was interrupted and cancelled on the daemon; "
                "no container or tag was left"
            ) from None
        finally:
            if args.out and result is not None:
                self.shell.user_ns[args.out] = result

    def _files_from_vars(self, specs: list[str]) -> dict[str, Any]:
        files: dict[str, Any] = {}
        for spec in specs:
            path, _, var = spec.partition("=")
            var = var or path
            if var not in self.shell.user_ns:
                raise ContextError(f"--var {spec}: there is no variable named {var!r}")
            value = self.shell.user_ns[var]
            if not isinstance(value, (str, bytes)):
                raise ContextError(
                    f"--var {spec}: {var!r} is a {type(value).__name__}; only str or bytes "
                    "can become a file"
                )
            files[path] = value
        return files
