"""The Dockerfile and .dockerignore, read as text: the image cannot be built here (no image
registry), so these check what a build would depend on and what a run relies on."""

from __future__ import annotations

import re

from tests.deploy.files import (
    ROOT,
    dockerfile_env,
    is_ignored,
    read_dockerfile,
    read_dockerignore,
)


def test_the_image_is_a_slim_python_that_runs_shipper_as_a_non_root_user() -> None:
    instructions = read_dockerfile()
    names = [i.name for i in instructions]
    assert names[0] == "FROM"
    assert re.fullmatch(r"python:3\.1[1-9]-slim", instructions[0].args)
    users = [i.args for i in instructions if i.name == "USER"]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can prove it is not root.
    assert uid.isdigit() and int(uid) != 0
    assert gid.isdigit() and int(gid) != 0
    assert names.index("USER") > max(i for i, n in enumerate(names) if n == "RUN")
    # `shipper` is the entrypoint and `run` only the default command, so `docker run IMAGE
    # check` (or test, replay) runs the other commands in the same image.
    (entrypoint,) = [i.exec_form() for i in instructions if i.name == "ENTRYPOINT"]
    assert entrypoint == ["shipper"]
    (command,) = [i.exec_form() for i in instructions if i.name == "CMD"]
    assert command == ["run"]
    assert [i.args for i in instructions if i.name == "STOPSIGNAL"] == ["SIGTERM"]


def test_config_and_state_are_at_fixed_paths_with_a_volume_for_the_state() -> None:
    instructions = read_dockerfile()
    env = dockerfile_env(instructions)
    assert env["SHIPPER_CONFIG"] == "/etc/shipper/config.toml"
    # shipper's default state_dir is $STATE_DIRECTORY.
    (volume,) = [i.exec_form() for i in instructions if i.name == "VOLUME"]
    assert volume == [env["STATE_DIRECTORY"]] == ["/var/lib/shipper"]


def test_only_the_package_is_installed_without_extras() -> None:
    runs = " ".join(i.args for i in read_dockerfile() if i.name == "RUN")
    assert "pip install /src" in runs
    assert "[" not in runs.split("pip install", 1)[1].split("&&", 1)[0]


def test_the_build_context_holds_what_copy_needs_and_nothing_else() -> None:
    patterns = read_dockerignore()
    copied = [
        source
        for i in read_dockerfile()
        if i.name == "COPY"
        for source in i.args.split()[:-1]
        if not source.startswith("--")
    ]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not is_ignored(source, patterns), source
    assert not is_ignored("shipper/cli.py", patterns)
    for left_out in (
        ".git/HEAD",
        ".venv/bin/python",
        "tests/__init__.py",
        ".pytest_cache/README.md",
        ".mypy_cache/3.11/x.json",
        "shipper/__pycache__/cli.cpython-311.pyc",
        "shipper.egg-info/PKG-INFO",
        "bench/latency.py",
    ):
        assert is_ignored(left_out, patterns), left_out
