"""The BuildKit session of one build: what it serves, opened before ``/build``, closed with it.

Every BuildKit build opens a session (:mod:`..engine.session`) before ``POST /build``
and names it with ``session=<id>``; the builder closes it when the build ends,
succeeded, failed or interrupted. What the session serves is collected from small
**providers**, each a function given the build's :class:`SessionPlan` that adds its
services and, if it needs them, ``/build`` parameters:

- :func:`registry_auth` (always, unless the docker config is off): the Auth service,
  registry credentials from the same docker config and helpers as the classic
  builder's ``X-Registry-Config`` (which BuildKit ignores).
- The context through FileSync would add ``/moby.filesync.v1.FileSync/DiffCopy``,
  ``remote=client-session`` in :attr:`SessionPlan.query`, set
  :attr:`SessionPlan.tar_body` to False and a :attr:`SessionPlan.shared_key`; secrets
  and SSH forwarding add their services the same way. A provider appends itself to
  :data:`PROVIDERS` (or a builder is given its own list).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .options import BuildOptions
from .secrets import build_secrets
from .ssh import ssh_agents

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.client import DockerClient
    from ..engine.grpc import Handler

__all__ = ["PROVIDERS", "SessionPlan", "SessionProvider", "registry_auth"]


@dataclass
class SessionPlan:
    """What one build's session serves and what the build request adds for it."""

    client: DockerClient
    options: BuildOptions
    #: The cell's Dockerfile text (None: ``options.dockerfile`` in ``context_dir``).
    dockerfile: str | None = None
    context_dir: str | None = None
    #: Extra files of the context (the magic's ``--var`` files ...), name -> content.
    files: Mapping[str, str | bytes] | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: Whether the user's docker config is used (credentials, proxies).
    docker_config: bool = True
    #: Method path -> handler; the health check is always added by the session.
    services: dict[str, Handler] = field(default_factory=dict)
    #: Extra ``/build`` query parameters (``("remote", "client-session")`` ...).
    query: list[tuple[str, str]] = field(default_factory=list)
    #: False when a provider sends the context itself: no tar body then.
    tar_body: bool = True
    #: The daemon keeps what a session sent under this key (FileSync's incremental
    #: rebuilds); empty: none.
    shared_key: str = ""
    #: The session's name in the daemon's logs (the CLI uses the context directory's).
    name: str = "jupyter-dockerbuild"
    #: Called when the session closes (after the build), in order.
    on_close: list[Callable[[], None]] = field(default_factory=list)


#: A provider adds what one feature needs to the plan (nothing when the build needs none).
SessionProvider = Callable[[SessionPlan], None]


def registry_auth(plan: SessionPlan) -> None:
    """Serve registry credentials (``moby.filesync.v1.Auth/Credentials``)."""
    if not plan.docker_config:
        return
    from ..engine.session_auth import RegistryAuth

    plan.services.update(RegistryAuth(env=plan.env).services())


def filesync_context(plan: SessionPlan) -> None:
    """The context through FileSync instead of a tar body (see :mod:`.filesync`)."""
    from .filesync import provide_context

    provide_context(plan)


#: The providers every BuildKit build's session is made from, in order.
PROVIDERS: list[SessionProvider] = [registry_auth, filesync_context, build_secrets, ssh_agents]
