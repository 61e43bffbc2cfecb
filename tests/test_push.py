"""``--push``, the form's Push button and ``--pull``, on the real registry and daemon.

* ``--push`` (the magic, ``build(push=True)``, ``execute``): each tag is pushed after the
  build, with per-layer upload progress in the same view as the build, the digests the
  registry stored on ``result.pushed``; a build that could not be pushed (no tag, a tag
  for Docker Hub) is refused before any request; a failed push fails the cell, keeps the
  image and ``--out`` keeps the result with the digests pushed so far; an interrupt
  during the push stops it on the daemon, leaving nothing under the tag.
* The form's Push (its model, on the form's background thread): enabled only when the
  last build succeeded with tags naming a registry, else the reason; Cancel stops it.
* ``--pull``: a base pushed twice under one tag; without ``--pull`` the daemon's copy is
  used, with it the registry's; the image's content and ``result.bases`` say which.
* A planted password (the registry's own, in the docker config) in none of the new
  outputs: the push progress (widget HTML and text), the result's repr and summary, the
  form's widget state.
"""

from __future__ import annotations

import html
import io
import json
import threading
import uuid
from typing import Any

import pytest
import requests
from registryutil import RegistryEnv
from test_registry import b64, logged_in, registry_digest, tag_image

import jupyter_dockerbuild as jd
from jupyter_dockerbuild.builder.bases import from_steps
from jupyter_dockerbuild.builder.options import BuildOptions
from jupyter_dockerbuild.builder.pipeline import execute
from jupyter_dockerbuild.builder.result import BuildResult, render_summary
from jupyter_dockerbuild.engine.auth import credentials_for_registry, encode_registry_auth
from jupyter_dockerbuild.engine.client import DockerClient
from jupyter_dockerbuild.engine.config import load_docker_config
from jupyter_dockerbuild.errors import PushError
from jupyter_dockerbuild.ui.html import render_html
from jupyter_dockerbuild.ui.text import TextView

pytestmark = [pytest.mark.daemon, pytest.mark.registry]


class RecordingView:
    """Draws every update like the widget and the text view do, and keeps it all."""

    def __init__(self, on_update: Any = None) -> None:
        self.html: list[str] = []
        self.text = io.StringIO()
        self._text = TextView(self.text)
        self.on_update = on_update
        self.closed: Any = None

    def update(self, state) -> None:
        self.html.append(render_html(state, tail_lines=6))
        self._text.update(state)
        if self.on_update is not None:
            self.on_update(state)

    def close(self, state) -> None:
        self.closed = state
        self.html.append(render_html(state, tail_lines=6, final=True))
        self._text.close(state)


def manifest_status(reg: RegistryEnv, path: str, tag: str) -> int:
    resp = requests.head(
        f"https://{reg.address}/v2/{path}/manifests/{tag}",
        auth=(reg.user, reg.password),
        verify=reg.ca,
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    return resp.status_code


def blob_dockerfile(size: int) -> str:
    marker = uuid.uuid4().hex
    return (
        "FROM local/busybox:latest\n"
        f"RUN head -c {size} /dev/urandom > /blob && echo {marker} > /marker\n"
    )


# -- --push ------------------------------------------------------------------------------------


def test_push_flag_pushes_each_tag_with_upload_progress_in_the_build_view(reg, cfg, repo, docker):
    logged_in(cfg, reg)
    tags = [f"{reg.address}/{repo}:1", f"{reg.address}/{repo}:two"]
    view = RecordingView()
    options = BuildOptions.from_user(tags=tags, network="none", push=True)
    result = execute(blob_dockerfile(6_000_000), options, view=view)

    assert result.ok and [t.reference for t in result.pushed] == tags
    assert result.pushed[0].digest == registry_digest(reg, repo, "1")
    assert result.pushed[1].digest == registry_digest(reg, repo, "two")
    assert result.push_error is None
    # The same view showed the push: a layer part-way up, with its bar, under the steps.
    partial = [
        h
        for h in view.html
        if "jdb-push-running" in h and "jdb-push-layer" in h and "Pushing" in h and " / " in h
    ]
    assert partial, view.html[-2]
    assert all("jdb-step" in h for h in partial)  # the build's rows stay above the push
    final = view.html[-1]
    for tag, pushed in zip(tags, result.pushed, strict=True):
        assert f"Pushed {tag}" in final and pushed.digest in final
    # The text view prints it like `docker push`, and the summary keeps the digests.
    text = view.text.getvalue()
    assert f"Pushing {tags[0]}" in text and "Pushed\n" in text
    assert f"1: digest: {result.pushed[0].digest}" in text
    assert f" pushed {tags[1]} {result.pushed[1].digest}" in text
    assert f" pushed {tags[0]} {result.pushed[0].digest}" in render_summary(result)
    assert f"pushed {result.pushed[0].digest[:19]}" in repr(result)


def test_python_build_push_true(reg, cfg, repo):
    logged_in(cfg, reg)
    tag = f"{reg.address}/{repo}:api"
    result = jd.build(blob_dockerfile(1000), tags=[tag], network="none", push=True)
    assert [t.digest for t in result.pushed] == [registry_digest(reg, repo, "api")]


def test_push_flag_refuses_a_build_it_could_not_push_before_any_request(ipshell):
    # A daemon that refuses every connection: a request would fail differently.
    dead = DockerClient("tcp://127.0.0.1:5999")
    for tags, message in (
        ([], "--push needs a tag naming the registry: add -t REGISTRY/NAME:TAG"),
        (["127.0.0.1:5443/team/ok:1", "myenv:1"], "'myenv:1' names no registry"),
    ):
        view = RecordingView()
        options = BuildOptions.from_user(tags=tags, push=True)
        with pytest.raises(PushError, match=message) as info:
            execute("FROM local/busybox:latest\n", options, client=dead, view=view)
        assert view.closed.status == "failed" and html.escape(str(info.value)) in view.html[-1]
    res = ipshell.run_cell("%%dockerbuild -H tcp://127.0.0.1:5999 -t team/app:1 --push\nFROM x\n")
    assert isinstance(res.error_in_exec, PushError)
    assert "would go to Docker Hub (docker.io): refused" in str(res.error_in_exec)


def test_failed_push_fails_the_cell_keeps_the_image_and_out_keeps_the_digests(
    ipshell, reg, cfg, repo, docker, capsys
):
    logged_in(cfg, reg)
    down = "127.0.0.1:5999"  # a registry that is down: nothing listens, refused at once
    ok, lost = f"{reg.address}/{repo}:ok", f"{down}/{repo}:lost"
    res = ipshell.run_cell(
        f"%%dockerbuild -t {ok} -t {lost} --network none --push --out pushres\n"
        + blob_dockerfile(1000)
    )
    error = res.error_in_exec
    assert isinstance(error, PushError), error
    message = str(error)
    assert message.startswith(f"push of {lost} failed: registry {down} is not reachable")
    assert message.endswith(f"the image is still on the daemon as {lost}")
    kept = ipshell.user_ns["pushres"]
    assert isinstance(kept, BuildResult) and kept.ok and kept.push_error == message
    assert [(t.reference, t.digest) for t in kept.pushed] == [
        (ok, registry_digest(reg, repo, "ok"))
    ]
    assert docker.image_exists(lost) and docker.image_exists(ok)
    assert docker.get_json(f"/images/{lost}/json")["Id"] == kept.image_id
    printed = capsys.readouterr().out
    assert f"Pushing {ok}" in printed and f"Pushing {lost}" in printed
    assert f" ✗ push: {message}" in render_summary(kept)
    assert "push failed (1/2 tags pushed)" in repr(kept)


def test_interrupt_during_the_push_stops_it_on_the_daemon(reg, cfg, repo, docker):
    logged_in(cfg, reg)
    tag = f"{reg.address}/{repo}:interrupted"

    def interrupt_when_uploading(state) -> None:
        # Where Ctrl-C (a kernel interrupt) lands: in the cell's thread, mid-push.
        if any(
            s == "Pushing" and 0 < cur < tot
            for p in state.pushes
            for _, s, cur, tot, _ in p.snapshot().layers
        ):
            raise KeyboardInterrupt

    view = RecordingView(on_update=interrupt_when_uploading)
    options = BuildOptions.from_user(tags=[tag], network="none", push=True)
    with pytest.raises(PushError) as info:
        execute(blob_dockerfile(40_000_000), options, view=view)
    assert str(info.value) == (
        "the push was interrupted and stopped on the daemon; the image is still on the "
        f"daemon as {tag}"
    )
    result = info.value.result
    assert result.ok and result.pushed == () and result.push_error == str(info.value)
    assert docker.image_exists(tag)
    assert manifest_status(reg, repo, "interrupted") == 404  # nothing under the tag
    assert "Push stopped:" in view.html[-1] and "jdb-push-cancelled" in view.html[-1]


# -- the form's Push ----------------------------------------------------------------------------


def test_form_model_push_button_runs_on_the_background_thread_and_cancel_stops_it(
    reg, cfg, repo, docker
):
    from jupyter_dockerbuild.ui import form_hints
    from jupyter_dockerbuild.ui.form_model import FormModel

    logged_in(cfg, reg)
    tag = f"{reg.address}/{repo}:form"
    m = FormModel(blob_dockerfile(30_000_000), tags=[tag], network="none", env={})
    assert m.push_check() == "build first: Push sends the last build's tags to their registry"
    assert form_hints.push_button(m)[0] is True
    with pytest.raises(PushError, match="cannot push: build first"):
        m.push(RecordingView)
    m.build(RecordingView)
    assert m.runner.wait(120).ok, m.runner.error
    assert m.push_check() is None
    assert form_hints.push_button(m) == (
        False,
        f"Push {tag} to the registry (like docker push)",
        "",
    )

    seen: dict[str, Any] = {}

    def cancel_when_uploading(state) -> None:
        snaps = [p.snapshot() for p in state.pushes]
        if not seen and any(s == "Pushing" for sn in snaps for _, s, *_ in sn.layers):
            seen["reason"] = m.push_check()
            seen["status"] = form_hints.status(m, None)
            # The Cancel button is clicked on the kernel's thread, not the push's.
            clicker = threading.Thread(target=m.runner.cancel)
            clicker.start()
            seen["thread"] = threading.current_thread() is not threading.main_thread()

    m.push(lambda: RecordingView(on_update=cancel_when_uploading))
    cancelled = m.runner.wait(120)
    assert cancelled is not None, repr(m.runner.error)
    assert seen["thread"] and seen["reason"] == "wait: a push is running"
    assert "pushing in the background" in seen["status"]
    assert cancelled.ok and cancelled.pushed == ()
    assert cancelled.push_error == (
        f"the push of {tag} was cancelled; the image is still on the daemon as {tag}"
    )
    assert "✗ the push of" in form_hints.status(m, None)
    assert manifest_status(reg, repo, "form") == 404 and docker.image_exists(tag)

    m.push(RecordingView)  # again, to the end
    pushed = m.runner.wait(120)
    assert [t.reference for t in pushed.pushed] == [tag]
    assert pushed.pushed[0].digest == registry_digest(reg, repo, "form")
    assert m.runner.result is pushed and pushed.image_id == cancelled.image_id
    assert f"✓ pushed <code>{tag}</code>" in form_hints.status(m, None)

    # A build whose tag names no registry: Push says why it cannot.
    m.set_list("tags", [f"{repo.split('/')[1]}:local"])
    m.build(RecordingView)
    assert m.runner.wait(120).ok
    disabled, tooltip, shown = form_hints.push_button(m)
    assert disabled and "names no registry, so pushing it would go to Docker Hub" in tooltip
    assert "names no registry" in shown
    docker.delete(f"/images/{repo.split('/')[1]}:local", params={"force": "1"})


# -- --pull ------------------------------------------------------------------------------------


def test_pull_flag_takes_the_registry_base_and_the_result_names_its_digest(
    reg, cfg, repo, docker, image_file
):
    logged_in(cfg, reg)
    base = f"{reg.address}/{repo}:base"
    v1 = execute(
        "FROM local/busybox:latest\nRUN echo base-v1 > /base\n",
        BuildOptions.from_user(tags=[base], network="none", push=True),
    )
    d1 = registry_digest(reg, repo, "base")
    child = f"FROM {base}\nRUN cat /base > /seen\n"
    built: list[BuildResult] = []

    def build(**flags: Any) -> tuple[BuildResult, RecordingView]:
        view = RecordingView()
        built.append(execute(child, BuildOptions.from_user(network="none", **flags), view=view))
        return built[-1], view

    first, _ = build()
    assert image_file(first.image_id, "/seen") == b"base-v1\n"
    [b] = first.bases
    assert (b.reference, b.digest, b.source, b.image_id) == (base, d1, "local", v1.image_id)

    # The base changes in the registry under the same tag; the daemon keeps v1 as :base.
    v2 = execute(
        "FROM local/busybox:latest\nRUN echo base-v2 > /base\n",
        BuildOptions.from_user(tags=[base], network="none", push=True),
    )
    d2 = registry_digest(reg, repo, "base")
    assert d2 != d1 and v2.pushed[0].digest == d2
    tag_image(docker, v1.image_id, base)
    docker.delete(f"/images/{v2.image_id}", params={"force": "1"})  # --pull must download

    local, _ = build(no_cache=True)
    assert image_file(local.image_id, "/seen") == b"base-v1\n"
    assert [(x.digest, x.source) for x in local.bases] == [(d1, "local")]
    assert "Pulling from" not in local.log

    pulled, view = build(pull=True)
    assert image_file(pulled.image_id, "/seen") == b"base-v2\n"
    [b] = pulled.bases
    assert (b.reference, b.digest, b.source) == (base, d2, "pulled")
    assert f"Downloaded newer image for {base}" in pulled.log
    line = f" base {base}@{d2} (pulled now)"
    assert line in render_summary(pulled) and line in view.text.getvalue()
    assert f"{base}@{d2} (pulled now)" in view.html[-1]  # the notebook's final view

    again, _ = build(pull=True)
    assert [(x.digest, x.source) for x in again.bases] == [(d2, "checked")]
    assert f"Image is up to date for {base}" in again.log
    assert again.image_id == pulled.image_id  # the same base: the RUN step was cached
    for image in dict.fromkeys([r.image_id for r in built] + [v1.image_id]):  # v1: untagged
        docker.delete(f"/images/{image}", params={"force": "1"})


def test_what_docker_20_10_says_about_the_base_is_read_from_the_log():
    log = (
        "Step 1/4 : FROM 127.0.0.1:5443/team/base:1 AS build\n"
        "1: Pulling from team/base\n"
        "Digest: sha256:" + "a" * 64 + "\n"
        "Status: Downloaded newer image for 127.0.0.1:5443/team/base:1\n"
        " ---> 4576108d24e3\n"
        "Step 2/4 : RUN echo ' ---> 000000000000'\n"
        " ---> Running in 896cc69a11cf\n"
        " ---> 000000000000\n"
        "Step 3/4 : FROM build\n"
        " ---> 8924ae83fe56\n"
        "Step 4/4 : from local/busybox:latest\n"
        " ---> 77999b88e444\n"
    )
    steps = from_steps(log)
    assert [(s.reference, s.short_id, s.digest, s.source) for s in steps] == [
        ("127.0.0.1:5443/team/base:1", "4576108d24e3", "sha256:" + "a" * 64, "pulled"),
        ("local/busybox:latest", "77999b88e444", None, "local"),
    ]


# -- a planted password in none of the new outputs -------------------------------------------


def test_push_outputs_hold_no_password(ipshell, reg, cfg, repo, capsys):
    import ipywidgets

    from jupyter_dockerbuild.ui.form import BuildForm

    logged_in(cfg, reg)  # the registry's real password, where docker login puts it
    creds = credentials_for_registry(reg.address, load_docker_config())
    secrets = [reg.password, b64(f"{reg.user}:{reg.password}"), encode_registry_auth(creds)]

    def absent(where: str, text: str) -> None:
        assert text, where  # not vacuous
        for secret in secrets:
            assert secret not in text, f"the password leaked into {where}"

    tag = f"{reg.address}/{repo}:scan"
    res = ipshell.run_cell(
        f"%%dockerbuild -t {tag} --network none --push --out scanned\n" + blob_dockerfile(3_000_000)
    )
    assert res.success, res.error_in_exec
    out = capsys.readouterr()
    absent("the magic's printed push", out.out + out.err)
    assert f"Pushing {tag}" in out.out

    view = RecordingView()
    again = execute(
        blob_dockerfile(3_000_000),
        BuildOptions.from_user(tags=[tag], network="none", push=True),
        view=view,
    )
    absent("the push progress (widget HTML)", "\n".join(view.html))
    absent("the push progress (text)", view.text.getvalue())
    for result in (ipshell.user_ns["scanned"], again):
        assert result.pushed
        absent("the result's repr", repr(result))
        absent("the result's summary", render_summary(result))
        absent("the result's fields", str(vars(result)))

    form = BuildForm(blob_dockerfile(1000), tags=[tag], network="none", env={})
    form.build()
    assert form.wait(120).ok
    form.push()
    assert form.wait(120).pushed, form.error
    # Every widget's synced state (what a frontend gets and a notebook saves).
    shown = json.dumps(
        [w.get_state() for w in list(ipywidgets.widgets.widget._instances.values())],
        default=str,
    )
    assert tag in shown and "Pushed" in shown  # the form's push progress is in there
    absent("the form's widget state", shown)
