"""The build form's model: what its fields hold, what is wrong, what a build would send.

Pure Python, no ipywidgets: :class:`FormModel` keeps a value per field (the fields are
the options of :data:`~jupyter_dockerbuild.builder.options.OPTIONS` that have a form
group), checks each field with its option's own parser and checks, discovers the
Dockerfile's ``ARG`` lines, keeps secret build-arg values kernel-side (:class:`ArgRow`),
keeps ``cpus`` and ``cpu_period``/``cpu_quota`` in step, renders the equivalent
``%%dockerbuild`` line and ``docker build`` command, asks the daemon's ``/info`` and runs
builds, and pushes of the last build's tags (:meth:`FormModel.push`), on a background
thread. Listeners (the widget view in :mod:`.form`) are told of every change; they never
hold state of their own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..builder.dockerfile import DeclaredArg, Dockerfile, declared_args, parse
from ..builder.options import (
    BUILD_OPTIONS,
    OPTION,
    OPTIONS,
    BuildOptions,
    Kind,
    Option,
    bare_names,
    canonical_keywords,
    cfs_to_cpus,
    cpus_to_cfs,
    parse_bool,
    validate_arg_name,
)
from ..builder.state import BuildResult, BuildState
from ..errors import DockerBuildError, OptionsError, PushError

__all__ = ["ArgRow", "BuildRunner", "DaemonFacts", "DeclaredArg", "FormModel", "declared_args"]

SECRET_SET = "●●●●●● hidden, kept in the kernel"
SECRET_EMPTY = "secret: hidden once entered"

#: The form's fields, from the option table, in table order.
TEXT_FIELDS: tuple[Option, ...] = tuple(
    o for o in OPTIONS if o.group and o.kind in (Kind.TEXT, Kind.SIZE, Kind.INT, Kind.CPUS)
)
LIST_FIELDS: tuple[Option, ...] = tuple(
    o
    for o in OPTIONS
    if o.group and (o.kind is Kind.LIST or (o.kind is Kind.PAIRS and not o.from_env))
)
FLAG_FIELDS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.group and o.kind is Kind.BOOL)
#: Build options without a field: passed through to every build unchanged.
PASSTHROUGH: tuple[Option, ...] = tuple(o for o in BUILD_OPTIONS if o.group is None)


class ArgRow:
    """One build arg: a name, a value, and whether the value is secret.

    A plain value is what the person sees. A secret one is kept here only
    (``_hidden``), never in anything synced to a browser or saved in a notebook. An
    empty value is not sent, so a declared ARG keeps the Dockerfile's default.
    """

    def __init__(
        self,
        on_change: Callable[[], None],
        *,
        name: str = "",
        value: str | None = None,
        secret: bool = False,
        declared: DeclaredArg | None = None,
        from_env: bool = False,
    ) -> None:
        self._on_change = on_change
        self.name = name
        self.declared = declared
        self.plain = ""
        self.secret = False
        self._hidden: str | None = None
        #: What the (empty) secret field says about the hidden value.
        self.secret_placeholder = SECRET_EMPTY
        if secret:
            self.secret = True
            self._hidden = value
            if value is not None:
                self.secret_placeholder = (
                    f"●●●●●● from ${name} (environment)" if from_env else SECRET_SET
                )
            elif from_env:
                self.secret_placeholder = f"${name} is not set: the default applies"
        else:
            self.plain = value or ""

    @property
    def default_hint(self) -> str:
        """What the empty value field says (the declared default, if any)."""
        if self.declared is None:
            return "value"
        if self.declared.default is None:
            return "no default (empty)"
        return f"default: {self.declared.default}"

    def get(self) -> tuple[str, str | None]:
        """``(name, value)``; ``value`` is ``None`` when empty (not sent)."""
        value = self._hidden if self.secret else self.plain
        return self.name.strip(), (value if value else None)

    def set_name(self, name: str) -> None:
        """Rename the row (declared rows keep the Dockerfile's name)."""
        if self.declared is None and name != self.name:
            self.name = name
            self._on_change()

    def set_plain(self, value: str) -> None:
        """Set the visible value (of a row that is not secret)."""
        if value != self.plain:
            self.plain = value
            self._on_change()

    def set_secret_value(self, value: str) -> None:
        """Take a secret value (marks the row secret); it stays in this object only."""
        self.secret = True
        self.plain = ""
        self._hidden = value or None
        self.secret_placeholder = SECRET_SET if value else SECRET_EMPTY
        self._on_change()

    def set_secret(self, secret: bool) -> None:
        """Mark or unmark secret: a plain value moves into hiding; unmarking forgets it."""
        if secret == self.secret:
            return
        if secret:
            plain, self.plain = self.plain, ""
            self.secret = True
            if plain:
                self.set_secret_value(plain)
                return
        else:
            # Secret -> plain: forget the hidden value rather than reveal it.
            self.secret = False
            self._hidden = None
            self.secret_placeholder = SECRET_EMPTY
        self._on_change()

    def clear(self) -> None:
        """Empty the value (and the secret mark)."""
        self.secret = False
        self.plain = ""
        self._hidden = None
        self.secret_placeholder = SECRET_EMPTY
        self._on_change()


def _as_list(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    if isinstance(values, Mapping):
        return [f"{k}={v}" for k, v in values.items()]
    return [str(v) for v in values]


class FormModel:
    """The state of one build form: fields, build-arg rows, daemon facts, builds.

    Takes the keywords of :func:`jupyter_dockerbuild.build` as initial values; an
    invalid one is kept as typed (and reported) rather than raised, only an unknown
    keyword raises. ``on_change(listener)`` registers a callable run after each change.
    """

    def __init__(
        self,
        dockerfile: str | None = None,
        *,
        host: str | None = None,
        client: Any = None,
        context_dir: str | os.PathLike[str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        line_offset: int = 0,
        env: Mapping[str, str] | None = None,
        **initial: Any,
    ) -> None:
        initial = canonical_keywords(initial)
        if context_dir is not None and dockerfile is not None:
            if not parse(dockerfile).instructions:
                # Like the magic: a cell with no instructions uses the context's file.
                dockerfile = None
        self.dockerfile = dockerfile
        self.host = host
        self.context_dir = context_dir
        self.files = files
        self.line_offset = line_offset
        self.env = os.environ if env is None else env
        self.client = client
        self._listeners: list[Callable[[], None]] = []
        self.passthrough = {
            o.name: initial[o.name] for o in PASSTHROUGH if initial.get(o.name) is not None
        }
        self.text: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {
            o.name: _as_list(initial.get(o.name)) for o in LIST_FIELDS
        }
        #: What is typed into a list field but not added yet (it counts: what you see is
        #: what is sent).
        self.pending: dict[str, str] = {o.name: "" for o in LIST_FIELDS}
        #: Per list field: what Enter last committed, and whether it was added.
        self._committed: dict[str, tuple[str, bool]] = {}
        self.flags: dict[str, bool] = {}
        self._fill_text(initial)
        self._fill_flags(initial)
        text = self.dockerfile_text()
        #: The Dockerfile, parsed once: the title, the ARG rows and the checks read it.
        self.parsed: Dockerfile = parse(text or "")
        self.declared = declared_args(text)
        self.rows: list[ArgRow] = []
        self._fill_rows(initial)
        #: The daemon's ``/info`` (asked once, lazily) and this form's builds.
        self.daemon = DaemonFacts(host, client, self.changed)
        self.runner = BuildRunner(self.changed)
        #: The last build's state, kept for Push (which draws the push under its steps).
        self.last_state: BuildState | None = None

    # -- initial values -----------------------------------------------------------------------

    def _fill_text(self, initial: Mapping[str, Any]) -> None:
        for opt in TEXT_FIELDS:
            value = initial.get(opt.name)
            self.text[opt.name] = "" if value is None else str(value)
        cpus, period, quota = (initial.get(k) for k in ("cpus", "cpu_period", "cpu_quota"))
        if cpus is None and period and quota:
            try:
                self.text["cpus"] = cfs_to_cpus(int(period), int(quota))
            except (TypeError, ValueError, ZeroDivisionError):
                pass
        elif cpus is not None and period is None and quota is None:
            try:
                period, quota = cpus_to_cfs(cpus)
            except OptionsError:
                return  # shown flagged in the cpus field
            self.text["cpu_period"], self.text["cpu_quota"] = str(period), str(quota)

    def _fill_flags(self, initial: Mapping[str, Any]) -> None:
        for opt in FLAG_FIELDS:
            value = initial.get(opt.name)
            default = opt.default_for(self.flags)  # force_rm follows rm unless given
            try:
                self.flags[opt.name] = default if value is None else parse_bool(value, opt.label)
            except OptionsError:
                self.flags[opt.name] = default

    def _fill_rows(self, initial: Mapping[str, Any]) -> None:
        """The Dockerfile's ARGs first, then the other given build args."""
        raw = initial.get("build_args")
        secret = set(initial.get("secret_args") or ())
        from_env = set(bare_names(raw))
        secret |= from_env
        given: dict[str, str | None] = {}
        if isinstance(raw, Mapping):
            given = {str(k): (None if v is None else str(v)) for k, v in raw.items()}
        else:
            for item in _as_list(raw):
                key, sep, value = item.partition("=")
                # Like the docker CLI: a bare NAME takes the kernel's environment value.
                given[key] = value if sep else self.env.get(key)
        for decl in self.declared:
            self.rows.append(
                self._row(
                    name=decl.name,
                    value=given.pop(decl.name, None),
                    secret=decl.name in secret,
                    declared=decl,
                    from_env=decl.name in from_env,
                )
            )
        for name, value in given.items():
            self.rows.append(
                self._row(name=name, value=value, secret=name in secret, from_env=name in from_env)
            )

    def _row(self, **kwargs: Any) -> ArgRow:
        return ArgRow(self.changed, **kwargs)

    # -- changes ------------------------------------------------------------------------------

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every change of the model."""
        self._listeners.append(listener)

    def changed(self) -> None:
        """Tell the listeners (a view redraws)."""
        for listener in list(self._listeners):
            listener()

    def set_text(self, name: str, value: str) -> None:
        """Set a text field; ``cpus`` and ``cpu_period``/``cpu_quota`` follow each other."""
        if self.text[name] == value:
            return
        self.text[name] = value
        if name == "cpus":
            self._cpus_to_cfs()
        elif name in ("cpu_period", "cpu_quota"):
            self._cfs_to_cpus()
        self.changed()

    def _cpus_to_cfs(self) -> None:
        text = self.text["cpus"].strip()
        if not text:
            self.text["cpu_period"] = self.text["cpu_quota"] = ""
            return
        try:
            period, quota = cpus_to_cfs(text)
        except OptionsError:
            return  # flagged; period/quota keep the last good value
        self.text["cpu_period"], self.text["cpu_quota"] = str(period), str(quota)

    def _cfs_to_cpus(self) -> None:
        try:
            period, quota = int(self.text["cpu_period"]), int(self.text["cpu_quota"])
        except ValueError:
            self.text["cpus"] = ""
            return
        self.text["cpus"] = cfs_to_cpus(period, quota) if period > 0 and quota > 0 else ""

    def set_list(self, name: str, values: list[str]) -> None:
        """Set the items of a list field (tags, labels ...)."""
        if self.lists[name] != list(values):
            self.lists[name] = list(values)
            self.changed()

    def set_pending(self, name: str, text: str) -> None:
        """Set what is being typed into a list field."""
        committed, added = self._committed.get(name, ("", False))
        full = text.strip()
        if committed and full.startswith(committed):
            # The tail of what was just added. A browser sends the Enter at once but
            # holds back value updates while the kernel is busy, so the last keystrokes
            # can arrive after the Enter that added their beginning: they belong to
            # that item, not to a new one (a new one starts from the cleared box).
            items = self.lists[name]
            if full not in items and not added:
                items.append(full)  # the beginning was a duplicate, not added: all is new
            elif full not in items and committed in items:
                items[items.index(committed)] = full
            self._committed[name] = (full, True)
            self.changed()
            return
        if full:  # typing something else: the item added last is complete
            self._committed.pop(name, None)
        if self.pending[name] != text:
            self.pending[name] = text
            self.changed()

    def commit(self, name: str) -> None:
        """Move what was typed into the list (invalid items too: they are flagged)."""
        value = self.pending[name].strip()
        added = bool(value) and value not in self.lists[name]
        if added:
            self.lists[name] = [*self.lists[name], value]
        self.pending[name] = ""
        self._committed[name] = (value, added)
        self.changed()

    def set_flag(self, name: str, value: bool) -> None:
        """Tick or untick an option."""
        if self.flags[name] != bool(value):
            self.flags[name] = bool(value)
            self.changed()

    def add_build_arg(
        self, name: str = "", value: str | None = None, *, secret: bool = False
    ) -> ArgRow:
        """Add a build-arg row, or fill the row of a name already there; return it."""
        row = next((r for r in self.rows if name and r.name == name), None)
        if row is None:
            row = self._row(name=name)
            self.rows.append(row)
        if secret and value is not None:
            row.set_secret_value(value)
        elif secret:
            row.set_secret(True)
        elif value is not None:
            row.set_secret(False)
            row.set_plain(value)
        self.changed()
        return row

    def remove_row(self, row: ArgRow) -> None:
        """Remove an added row; a declared one is cleared back to the Dockerfile's default."""
        if row.declared is not None:
            row.clear()
            return
        self.rows.remove(row)
        self.changed()

    # -- reading ------------------------------------------------------------------------------

    def dockerfile_text(self) -> str | None:
        """The Dockerfile: the cell's text, or the context's file when the cell has none."""
        if self.dockerfile is not None:
            return self.dockerfile
        if self.context_dir is not None:
            name = self.passthrough.get("dockerfile", "Dockerfile")
            path = os.path.join(os.fspath(self.context_dir), name)
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    return fh.read()
            except OSError:
                return None
        return None

    def list_value(self, name: str) -> list[str]:
        """A list field's items, with what is typed but not added yet."""
        pending = self.pending[name].strip()
        items = self.lists[name]
        return [*items, pending] if pending and pending not in items else [*items]

    def item_error(self, name: str, item: str) -> OptionsError | None:
        """What is wrong with one item of a list field (one tag), checked on its own."""
        try:
            OPTION[name].read([item], env=self.env)
        except OptionsError as exc:
            return exc
        return None

    def row_error(self, row: ArgRow) -> OptionsError | None:
        """What is wrong with one build-arg row that would be sent.

        A value without a name, a name two rows with values share, a name that is not
        one. An empty row is not sent (the Dockerfile's default applies), so it is fine.
        """
        name, value = row.get()
        if value is None:
            return None
        if not name:
            return OPTION["build_args"].error("a row has a value but no name")
        if sum(1 for r in self.rows if r.get()[0] == name and r.get()[1] is not None) > 1:
            return OPTION["build_args"].error(f"{name} is set in two rows")
        try:
            validate_arg_name(name)
        except OptionsError as exc:
            return exc
        return None

    def values(self) -> dict[str, Any]:
        """The fields as keyword arguments of ``BuildOptions.from_user``.

        Raises the first :meth:`row_error`; ``from_user`` checks the rest.
        """
        args: dict[str, str | None] = {}
        secret: set[str] = set()
        for row in self.rows:
            error = self.row_error(row)
            if error is not None:
                raise error
            name, value = row.get()
            if value is None:
                continue  # empty: not sent, the Dockerfile's default applies
            args[name] = value
            if row.secret:
                secret.add(name)
        values: dict[str, Any] = {"build_args": args, "secret_args": secret}
        for opt in LIST_FIELDS:
            values[opt.name] = self.list_value(opt.name)
        for opt in TEXT_FIELDS:
            if opt.kind is not Kind.CPUS:  # cpus is in cpu_period/cpu_quota already
                values[opt.name] = self.text[opt.name].strip() or None
        if values.get("network") == "default":
            values["network"] = None  # the daemon's default: nothing to send
        values.update(self.flags)
        values.update(self.passthrough)
        return values

    def field_error(self, name: str) -> OptionsError | None:
        """What is wrong with one text field on its own (``None``: nothing, or empty)."""
        text = self.text[name].strip()
        if not text:
            return None
        try:
            OPTION[name].read(text, env=self.env)
        except OptionsError as exc:
            return exc
        return None

    @property
    def options(self) -> BuildOptions:
        """The checked options a build would send now; raises :class:`OptionsError`."""
        cpus = self.field_error("cpus")
        if cpus is not None:
            raise cpus
        options = BuildOptions.from_user(env=self.env, **self.values())
        info = self.daemon.info
        if options.squash and info is not None and not info.get("ExperimentalBuild"):
            raise OPTION["squash"].error(
                message="--squash needs a daemon started with --experimental; this one is "
                "not (untick squash)"
            )
        if not self.parsed.instructions and not options.remote:
            raise OPTION["dockerfile"].error(
                message="there is no Dockerfile: write at least a FROM line in the cell, "
                "below %%dockerbuild --form"
            )
        if options.push:  # %%dockerbuild --form --push: each Build pushes too
            from ..images.push import check_push_tags

            try:
                check_push_tags(options.tags)
            except PushError as exc:
                raise OPTION["tags"].error(message=str(exc)) from None
        return options

    def check(self) -> OptionsError | None:
        """The first thing wrong (why Build is disabled), or ``None`` when all is valid."""
        try:
            _ = self.options
        except OptionsError as exc:
            return exc
        return None

    def magic_line(self, options: BuildOptions | None = None) -> str:
        """The equivalent ``%%dockerbuild`` line (secrets as bare names)."""
        options = self.options if options is None else options
        return options.to_cli(magic=True, context=self.context_dir, host=self.host)

    def command(self, options: BuildOptions | None = None) -> str:
        """The equivalent ``docker build`` command (secrets as bare names)."""
        options = self.options if options is None else options
        return options.to_cli(context=self.context_dir, host=self.host)

    # -- building -----------------------------------------------------------------------------

    def build(self, make_view: Callable[[], Any]) -> None:
        """Start a build with the current fields on a background thread; return at once.

        ``make_view()`` gives the progress view, called once the options are valid.
        Raises :class:`OptionsError` when a field is invalid and :class:`RuntimeError`
        if a build is already running.
        """
        with self.runner.lock:
            self.runner.refuse_second()
            options = self.options
            view = make_view()
            self.runner.start(
                lambda cancel, on_response: self._run(options, view, cancel, on_response)
            )

    def _run(
        self,
        options: BuildOptions,
        view: Any,
        cancel_event: threading.Event,
        on_response: Callable[[Any], None],
    ) -> BuildResult:
        from ..builder.pipeline import execute

        keeper = _KeepState(view)
        try:
            # execute() adds the docker config's credentials and proxies for the daemon
            # it builds on, and closes the client it makes (not one handed in).
            return execute(
                self.dockerfile,
                options,
                context_dir=self.context_dir,
                files=self.files,
                host=self.host,
                client=self.client,
                view=keeper,
                line_offset=self.line_offset,
                cancel_event=cancel_event,
                on_response=on_response,
            )
        finally:
            self.last_state = keeper.state

    # -- pushing ------------------------------------------------------------------------------

    def push_check(self) -> str | None:
        """Why Push is disabled now, or ``None`` when the last build's tags can be pushed."""
        runner = self.runner
        if runner.running:
            return f"wait: a {runner.activity} is running"
        result, state = runner.result, self.last_state
        if result is None or state is None:
            return "build first: Push sends the last build's tags to their registry"
        if not result.ok:
            return "the last build did not succeed: there is no image to push"
        if not result.tags:
            return (
                "the last build has no tag: add one naming the registry (e.g. "
                "127.0.0.1:5443/team/app:1), build, then push"
            )
        from ..images.push import check_push_tags

        try:
            check_push_tags(result.tags)
        except PushError as exc:
            return str(exc)
        return None

    def push(self, make_view: Callable[[], Any]) -> None:
        """Push the last build's tags on the background thread; return at once.

        ``make_view()`` gives the progress view. Raises :class:`PushError` with the
        reason Push is disabled (:meth:`push_check`), and :class:`RuntimeError` if a build
        or push is running. Cancel (:meth:`BuildRunner.cancel`) stops the push.
        """
        with self.runner.lock:
            self.runner.refuse_second()
            reason = self.push_check()
            state = self.last_state
            if reason is not None or state is None:
                raise PushError(f"cannot push: {reason}")
            view = make_view()

            def run(cancel: threading.Event, on_response: Callable[[Any], None]) -> BuildResult:
                from ..builder.publish import push_again

                return push_again(
                    state,
                    view=view,
                    host=self.host,
                    client=self.client,
                    cancel_event=cancel,
                    on_response=on_response,
                )

            self.runner.start(run, activity="push")


class _KeepState:
    """A view that passes everything on and keeps the state it was shown (for Push)."""

    def __init__(self, view: Any) -> None:
        self.view = view
        self.state: BuildState | None = None

    def update(self, state: BuildState) -> None:
        self.state = state
        self.view.update(state)

    def close(self, state: BuildState) -> None:
        self.state = state
        self.view.close(state)


class DaemonFacts:
    """The daemon's ``/info`` for a form: asked once, lazily, never blocking the cell."""

    def __init__(self, host: str | None, client: Any, on_change: Callable[[], None]) -> None:
        self.host = host
        self.client = client
        self._on_change = on_change
        self.info: dict[str, Any] | None = None
        #: Why ``/info`` could not be had (the daemon is down, the host is odd...).
        self.error: str | None = None
        self.asked = False
        self._lock = threading.Lock()

    def fetch(self) -> dict[str, Any] | None:
        """Ask ``/info`` once (cached); ``None`` if the daemon cannot be reached."""
        with self._lock:
            if self.info is None and self.error is None:
                from ..engine.client import DockerClient

                client = self.client
                try:
                    client = client or DockerClient(self.host, timeout=10.0)
                    self.info = dict(client.get_json("/info"))
                except Exception as exc:  # unreachable, refused, odd host: only a note
                    self.error = str(exc) or type(exc).__name__
                finally:
                    if self.client is None and client is not None:
                        client.close()
        self._on_change()
        return self.info

    def ask_later(self) -> None:
        """Ask on a background thread (once), so a slow or absent daemon never blocks."""
        with self._lock:
            if self.asked:
                return
            self.asked = True
        self._on_change()
        threading.Thread(target=self.fetch, name="dockerbuild-form-info", daemon=True).start()


class BuildRunner:
    """A form's builds (and pushes): one at a time, on a background thread, cancellable.

    ``result`` is the last build's result (after a push, with its digests).
    """

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self.lock = threading.RLock()
        self.result: BuildResult | None = None
        #: What runs (or ran last): ``"build"`` or ``"push"``.
        self.activity = "build"
        self.error: DockerBuildError | None = None
        #: True when ``error`` is not one of ours (a bug): shown as "unexpected".
        self.error_unexpected = False
        self.count = 0
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._response: Any = None

    @property
    def running(self) -> bool:
        """True while a build runs."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def cancelling(self) -> bool:
        """True once Cancel was asked for the current build."""
        return self._cancel.is_set()

    def refuse_second(self) -> None:
        """Raise :class:`RuntimeError` if a build is running."""
        if self.running:
            doing = "building" if self.activity == "build" else "pushing"
            raise RuntimeError(f"this form is already {doing}; Cancel it or wait()")

    def start(
        self,
        run: Callable[[threading.Event, Callable[[Any], None]], BuildResult],
        *,
        activity: str = "build",
    ) -> None:
        """Run ``run(cancel_event, on_response)`` on a new thread; it returns the result.

        ``activity`` (``"build"`` or ``"push"``) is what the form says is running.
        """
        with self.lock:
            self.refuse_second()
            self.activity = activity
            self._cancel = threading.Event()
            self._response = None
            self.error = None
            self.error_unexpected = False
            self.count += 1
            self._thread = threading.Thread(
                target=self._run,
                args=(run,),
                name=f"dockerbuild-form-{id(self):x}-{self.count}",
                daemon=True,
            )
            self._thread.start()
        self._on_change()

    def _got_response(self, response: Any) -> None:
        self._response = response
        if self._cancel.is_set():  # Cancel came while the request was being sent
            response.cancel()

    def _run(self, run: Callable[[threading.Event, Callable[[Any], None]], BuildResult]) -> None:
        result: BuildResult | None = None
        try:
            result = run(self._cancel, self._got_response)
        except DockerBuildError as exc:
            # A failed build or push carries its result; the daemon being down, a missing
            # context file... carry none.
            self.error = exc
            result = getattr(exc, "result", None)
        except Exception as exc:  # a thread has no cell to fail: never lose the reason
            self.error = DockerBuildError(f"{type(exc).__name__}: {exc}")
            self.error_unexpected = True
        finally:
            self.result = result
            self._response = None
            with self.lock:
                self._thread = None
            self._on_change()

    def cancel(self) -> None:
        """Cancel the running build: close the connection; the daemon kills the step."""
        self._cancel.set()
        response = self._response
        if response is not None:
            response.cancel()
        self._on_change()

    def wait(self, timeout: float | None = None, *, check: bool = False) -> BuildResult | None:
        """Wait for the running build (if any) and return the last result.

        Raises :class:`TimeoutError` if it is still running after ``timeout`` seconds;
        with ``check=True`` also raises the build's error if it failed or was cancelled.
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the build is still running after {timeout}s")
        if check and self.error is not None:
            raise self.error
        return self.result
