"""The ``%%dockerbuild`` cell magic: flags named like ``docker build``; wiring only.

The first line carries the flags, the rest of the cell is the Dockerfile. Every flag is
declared once, in the option table of :mod:`~jupyter_dockerbuild.builder.options`; the
argument parser (and so ``%%dockerbuild?`` with every flag and its help) is made from
it. Session defaults are traitlets (``%config DockerBuildMagics.host = "tcp://..."``,
``%config DockerBuildMagics.builder = "buildkit"``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser, parse_argstring, real_name
from traitlets import Bool, Float, Int, Unicode

from ..builder.options import add_arguments, magic_values, option_for_flags
from ..errors import (
    BuildCancelled,
    BuildInterrupted,
    ContextError,
    DockerBuildError,
    OptionsError,
)
from ..units import with_article


def _table_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """What ``@magic_arguments()`` with one ``@argument`` per option does, from the table.

    IPython's decorators build a :class:`MagicArgumentParser` from the function's
    docstring, add the arguments, mark the function (``has_arguments``, ``parser``, used
    by ``parse_argstring`` and the completer) and replace its docstring with the full
    help, which ``%%dockerbuild?`` shows. The arguments come from
    :data:`~jupyter_dockerbuild.builder.options.OPTIONS`, so no flag is declared here.
    """
    # IPython's help formatter puts one "%" before the name (right for line magics):
    # the second one makes the usage read "%%dockerbuild", as the cell magic is typed.
    parser = MagicArgumentParser("%" + real_name(func), description=func.__doc__)
    # Raise ArgumentError, which says which argument is wrong, instead of a message.
    parser.exit_on_error = False
    add_arguments(parser)
    func.has_arguments = True  # type: ignore[attr-defined]
    func.decorators = []  # type: ignore[attr-defined]
    func.parser = parser  # type: ignore[attr-defined]
    func.__doc__ = parser.format_help()
    return func


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
    builder = Unicode(
        None,
        allow_none=True,
        help="Builder for every %%dockerbuild without --builder: buildkit, classic or auto. "
        "Default (None): DOCKER_BUILDKIT if set, else auto (BuildKit when the Dockerfile "
        "needs it, else classic).",
    ).tag(config=True)
    widget = Bool(
        True,
        help="Show the live progress view (HTML output updated in place) inside a Jupyter "
        "kernel; False prints plain text like the docker CLI.",
    ).tag(config=True)
    tail_lines = Int(
        6, help="How many lines of the running step's output the progress view shows."
    ).tag(config=True)
    refresh_rate = Float(10.0, help="Most redraws per second of the progress view (throttle).").tag(
        config=True
    )

    @_table_arguments
    @cell_magic
    def dockerbuild(self, line: str, cell: str) -> Any:
        """Build a Docker image; the cell's text is the Dockerfile.

        Example::

            %%dockerbuild -t myenv:1 --build-arg PYVER=3.12 -m 2g
            FROM local/busybox:latest
            ARG PYVER
            RUN echo "python $PYVER" > /version.txt

        The cell fails (raises BuildError) when the build fails, and BuildCancelled when
        it is interrupted; --out NAME keeps the result in every case.
        """
        # Only what the first paint needs is imported up front; the HTTP stack
        # (requests alone costs ~100 ms in a fresh kernel) comes after the view is up.
        from ..builder.dockerfile import parse
        from ..builder.options import BuildOptions
        from ..ui.text import make_view

        try:
            args = parse_argstring(self.dockerbuild, line)
        except argparse.ArgumentError as exc:  # a flag without its value...: name it
            option = option_for_flags(exc.argument_name)
            raise OptionsError(f"%%dockerbuild: {exc}", option=option) from None
        except Exception as exc:  # UsageError (an unknown flag), a stray quote: one line
            raise OptionsError(f"%%dockerbuild: {exc}") from None

        values = magic_values(args)
        if "builder" not in values and self.builder:
            values["builder"] = self.builder
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
        except BuildInterrupted as exc:
            # execute already closed the connection (the daemon killed the build)
            # and the view shows "cancelled"; fail the cell with one short line
            # instead of a traceback through the HTTP stack, keeping the cancelled
            # build's result (log and steps so far) for --out.
            result = exc.result
            raise BuildCancelled(str(exc), result) from None
        except KeyboardInterrupt:
            # Before execute() had a build to cancel: nothing ran, nothing to keep.
            raise BuildCancelled("interrupted before the build started") from None
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
                kind = with_article(type(value).__name__)
                raise ContextError(
                    f"--var {spec}: {var!r} is {kind}; only str or bytes can become a file"
                )
            files[path] = value
        return files
