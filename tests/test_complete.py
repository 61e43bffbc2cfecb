"""Tab completion in %%dockerbuild cells: in an IPython shell and through a real kernel."""

from __future__ import annotations

import pytest
from IPython.core.completer import provisionalcompleter

from jupyter_dockerbuild.ipython.complete import magic_flags


@pytest.fixture
def ip(ipshell):
    return ipshell


def complete(ip, code):
    with provisionalcompleter():
        return [c.text for c in ip.Completer.completions(code, len(code))]


def test_flags_on_the_magic_line_come_from_the_parser(ip):
    assert complete(ip, "%%dockerbuild --mem") == ["--memory", "--memory-swap"]
    assert complete(ip, "%%dockerbuild -t x:1 --no-c") == ["--no-cache"]
    # One source of truth: every documented flag completes.
    assert {"--tag", "--build-arg", "--cpu-quota", "--form", "--context"} <= set(magic_flags())


def test_instructions_at_the_start_of_dockerfile_lines(ip):
    assert complete(ip, "%%dockerbuild\nFROM scratch\nRU") == ["RUN"]
    assert complete(ip, "%%dockerbuild\nFROM scratch\n  wo") == ["WORKDIR"]
    assert complete(ip, "%%dockerbuild\nFROM scratch\nEN") == ["ENTRYPOINT", "ENV"]


def test_no_instructions_inside_a_continuation_or_heredoc(ip):
    # Where the parser says a line continues an instruction, a keyword is not wanted.
    assert complete(ip, "%%dockerbuild\nFROM scratch\nRUN echo a \\\n  EN") == []
    # In a heredoc body (its terminator after the cursor) neither ...
    body = "%%dockerbuild\nFROM scratch\nRUN <<EOF\nEN"
    with provisionalcompleter():
        inside = [c.text for c in ip.Completer.completions(body + "\nEOF\n", len(body))]
    assert inside == []
    # ... but without a terminator it is no heredoc, and the line is an instruction.
    assert complete(ip, body) == ["ENTRYPOINT", "ENV"]
    # After an escaped escape the next line is an instruction again (the daemon's rule).
    assert complete(ip, "%%dockerbuild\nFROM scratch\nENV C=a\\\\\nEN") == ["ENTRYPOINT", "ENV"]


@pytest.mark.daemon
def test_from_offers_local_images(ip, base_image):
    assert base_image in complete(ip, "%%dockerbuild\nFROM loc")


def test_python_cells_are_left_alone(ip):
    assert "RUN" not in complete(ip, "x = 1\nRU")
    assert "--memory" not in complete(ip, "print('--mem")
