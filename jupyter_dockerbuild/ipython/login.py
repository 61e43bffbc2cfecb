"""``%docker_login REGISTRY`` and ``%docker_logout REGISTRY``: wiring for :mod:`.engine.registry`.

The password is asked without echo (``getpass``; ipykernel shows a password box whose
value goes to the kernel only, never into the notebook), checked by the daemon
(``POST /auth``), and stored like ``docker login`` does, so the CLI and the notebook
share it. ``--password-stdin`` reads it from standard input instead, for scripts run
with ``ipython script.ipy < password-file``. The magics return nothing: no credential
can end up in ``Out[]``.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..errors import OptionsError

__all__ = ["LoginMagics", "register"]


@magics_class
class LoginMagics(Magics):
    """Log in to and out of registries from the notebook."""

    def _host(self) -> Any:
        """The daemon ``%%dockerbuild`` uses (its ``host`` setting), else the default."""
        registry = getattr(getattr(self.shell, "magics_manager", None), "registry", {})
        build_magics = registry.get("DockerBuildMagics")
        return getattr(build_magics, "host", None) if build_magics is not None else None

    def _parse(self, func: Any, line: str) -> Any:
        try:
            return parse_argstring(func, line)
        except Exception as exc:  # argparse's UsageError: keep it one line
            raise OptionsError(f"%{func.__name__}: {exc}") from None

    @magic_arguments()
    @argument("-u", "--username", metavar="USER", help="The user name (asked if not given).")
    @argument(
        "--password-stdin",
        action="store_true",
        help="Read the password from standard input (scripts); needs -u.",
    )
    @argument("registry", metavar="REGISTRY", help="The registry, e.g. 127.0.0.1:5443.")
    @line_magic
    def docker_login(self, line: str) -> None:
        """Log in to a registry like ``docker login REGISTRY``.

        Without ``-u`` the stored credentials are tried first; otherwise the user name
        and password are asked (the password without echo). The daemon checks them with
        the registry before they are stored: in the credential helper the docker config
        names (``credHelpers``, ``credsStore``), else in config.json.
        """
        from ..engine.client import DockerClient
        from ..engine.registry import login

        args = self._parse(self.docker_login, line)
        client = DockerClient(self._host())
        try:
            result = login(
                args.registry,
                args.username,
                password_stdin=args.password_stdin,
                client=client,
            )
        finally:
            client.close()
        print(result)

    @magic_arguments()
    @argument("registry", metavar="REGISTRY", help="The registry, e.g. 127.0.0.1:5443.")
    @line_magic
    def docker_logout(self, line: str) -> None:
        """Remove the stored credentials of a registry like ``docker logout REGISTRY``."""
        from ..engine.registry import logout

        args = self._parse(self.docker_logout, line)
        result = logout(args.registry)
        print(result)
        for warning in result.warnings:
            print(f"warning: {warning}")


def register(ipython: Any) -> None:
    """Register ``%docker_login`` and ``%docker_logout``."""
    ipython.register_magics(LoginMagics)
