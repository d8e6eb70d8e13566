"""``compose.yaml``: the three-node CouchDB cluster, its one-shot setup and our server hold
together as written, checked without Docker (CI may have none); with ``docker compose``
installed, Docker's own parser must accept the file too.

What is checked is what breaks a cluster silently: a node with another cookie never joins, a
setup call naming a host that is no node's ``NODENAME`` adds a node that never answers, and a
setup that starts before the nodes has nothing to talk to.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from brainlink_docs.cli import _build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
# A pinned tag: a version number (3.5.0, 8.11.1), never a moving name such as latest or 3.
PINNED = re.compile(r"^[a-z0-9./_-]+:\d+(\.\d+)+$")
COUCHDB_IMAGE = "couchdb:3.5.0"
COUCHDB_DATA = "/opt/couchdb/data"
# Time for ``docker compose config`` (a parse, no containers).
DOCKER_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def couchdb_nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc for name, svc in services(compose).items() if svc.get("image") == COUCHDB_IMAGE
    }


def setup_service(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(services(compose)["cluster-setup"])


def setup_script(compose: dict[str, Any]) -> str:
    """The setup's shell script as the container runs it (compose turns ``$$`` into ``$``)."""
    command = setup_service(compose)["command"]
    assert isinstance(command, list) and len(command) == 1
    return str(command[0]).replace("$$", "$")


def test_every_service_runs_a_pinned_image_or_builds_this_repository(
    compose: dict[str, Any],
) -> None:
    for name, svc in services(compose).items():
        if "build" in svc:
            assert svc["build"] == ".", name
            dockerfile = (ROOT / "Dockerfile").read_text()
            assert "pip install" in dockerfile and "FROM python:3.11-slim" in dockerfile
            continue
        assert PINNED.match(svc.get("image", "")), (name, svc.get("image"))


def test_three_couchdb_nodes_share_cookie_secret_and_credentials(compose: dict[str, Any]) -> None:
    nodes = couchdb_nodes(compose)
    assert len(nodes) == 3
    envs = [svc["environment"] for svc in nodes.values()]
    cookies = set()
    for env in envs:
        flags = shlex.split(env["ERL_FLAGS"])
        cookies.add(flags[flags.index("-setcookie") + 1])
    assert len(cookies) == 1 and "" not in cookies
    for key in ("COUCHDB_USER", "COUCHDB_PASSWORD", "COUCHDB_SECRET"):
        values = {env[key] for env in envs}
        assert len(values) == 1 and "" not in values, key
    setup_env = setup_service(compose)["environment"]
    for key in ("COUCHDB_USER", "COUCHDB_PASSWORD"):
        assert setup_env[key] == envs[0][key], key


def test_each_node_keeps_its_own_data_volume_and_host_port(compose: dict[str, Any]) -> None:
    nodes = couchdb_nodes(compose)
    mounts = [volume.split(":") for svc in nodes.values() for volume in svc["volumes"]]
    assert sorted(target for _, target in mounts) == [COUCHDB_DATA] * 3
    names = {source for source, _ in mounts}
    assert len(names) == 3 and names <= set(compose["volumes"])
    published = [
        port.split(":")[0] for svc in services(compose).values() for port in svc.get("ports", [])
    ]
    assert len(published) == len(set(published)) == 4


def test_the_setup_names_exactly_the_nodes_and_waits_for_them(compose: dict[str, Any]) -> None:
    """``NODENAME`` makes each node ``couchdb@NODENAME``; ``add_node`` records
    ``couchdb@HOST``: the hosts the setup adds must be the other nodes' names, each resolvable
    on the shared network, and the setup must start after every node."""
    nodes = couchdb_nodes(compose)
    names = {svc["environment"]["NODENAME"]: service for service, svc in nodes.items()}
    assert len(names) == 3
    for nodename, service in names.items():
        assert nodename in nodes[service]["networks"]["cluster"]["aliases"]
    setup = setup_service(compose)
    coordinator = setup["environment"]["COORDINATOR"]
    joiners = setup["environment"]["JOINERS"].split()
    assert sorted([coordinator, *joiners]) == sorted(names)
    assert set(setup["depends_on"]) == set(nodes)
    assert "cluster" in setup["networks"]


def test_the_setup_script_runs_couchdb_cluster_setup_in_order(compose: dict[str, Any]) -> None:
    script = setup_script(compose)
    actions = re.findall(r'\\"action\\": \\"(\w+)\\"|"action": "(\w+)"', script)
    assert [a or b for a, b in actions] == [
        "enable_cluster",  # on the coordinator
        "enable_cluster",  # on each joiner, through the coordinator
        "add_node",
        "finish_cluster",
    ]
    loop = script[script.index("for node in $JOINERS") : script.index("finish_cluster")]
    assert "remote_node" in loop and '\\"host\\": \\"$node\\"' in loop
    assert "_cluster_setup" in script and "$COORDINATOR:5984" in script
    assert script.index("/_up") < script.index("enable_cluster")


def test_our_server_runs_a_real_brainlink_docs_serve(compose: dict[str, Any]) -> None:
    server = services(compose)["brainlink"]
    program, *argv = server["command"]
    assert program == "brainlink-docs"
    args = _build_parser().parse_args(argv)
    assert args.command == "serve"
    assert args.host == "0.0.0.0"
    assert [port.split(":")[1] for port in server["ports"]] == [str(args.port)]
    assert any(volume.endswith(f":{args.data_dir}") for volume in server["volumes"])
    assert "cluster" in server["networks"]


def docker_compose() -> list[str] | None:
    if shutil.which("docker") is None:
        return None
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, timeout=DOCKER_TIMEOUT_S
    )
    return ["docker", "compose"] if probe.returncode == 0 else None


def test_docker_compose_accepts_the_file() -> None:
    command = docker_compose()
    if command is None:
        pytest.skip("docker compose is not installed")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=DOCKER_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
