"""Topology files are strict: every mistake names the file and line, and the
CLI exits 2."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from barfinex.cli import main
from barfinex.config import ConfigError
from barfinex.runtime.topology import load_topology

pytestmark = pytest.mark.unit

GOOD = """\
name: t
actors:
  provider:
    class: actors.provider:Provider
  detector:
    class: actors.detector:Detector
    subscribe: [provider]
"""


def write(tmp_path: Path, text: str, name: str = "topo.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_topology(str(path))
    return info.value


def test_good_topology_gets_default_ipc_endpoints(tmp_path):
    topo = load_topology(str(write(tmp_path, GOOD + "run_dir: /tmp/bfx-unit\n")))
    assert topo.actors["provider"].pub == "ipc:///tmp/bfx-unit/provider.pub"
    assert topo.actors["detector"].subscribe == ("provider",)
    assert topo.pub_endpoints(["provider"]) == ["ipc:///tmp/bfx-unit/provider.pub"]


def test_poll_mode_defaults_to_spin_and_is_per_actor(tmp_path):
    topo = load_topology(str(write(tmp_path, GOOD + "    poll: epoll\n")))
    assert (topo.actors["provider"].poll, topo.actors["provider"].spin_us) == ("spin", 100)
    assert topo.actors["detector"].poll == "epoll"
    topo = load_topology(str(write(tmp_path, GOOD + "    spin_us: 250\n")))
    assert (topo.actors["detector"].poll, topo.actors["detector"].spin_us) == ("spin", 250)


def test_shipped_demo_loads():
    topo = load_topology(None)
    assert topo.name == "demo"
    assert set(topo.actors) == {"venue", "provider", "detector", "advisor", "inspector"}


@pytest.mark.parametrize("text, line, fragment", [
    (GOOD + "    colour: red\n", 8, "unknown key 'colour'"),
    (GOOD.replace("name: t", "nmae: t"), 1, "unknown key 'nmae'"),
    (GOOD + "    config: nowhere.yaml\n", 8, "config file 'nowhere.yaml' not found"),
    (GOOD.replace("subscribe: [provider]", "subscribe: [providr]"), 7, "unknown actor 'providr'"),
    (GOOD + "    pub: ipc:///tmp/x.pub\n  advisor:\n    class: actors.advisor:Advisor\n    pub: ipc:///tmp/x.pub\n",
     11, "duplicate endpoint ipc:///tmp/x.pub"),
    (GOOD.replace("actors.detector:Detector", "actors.nope:Detector"), 6, "cannot import 'actors.nope'"),
    (GOOD.replace("actors.detector:Detector", "actors.detector"), 6, "must look like"),
    (GOOD + "heartbeat_ms: fast\n", 8, "expected `int`"),
    (GOOD + "    pub: http://x\n", 8, "not ipc://"),
    (GOOD + "  provider:\n    class: actors.provider:Provider\n", 8, "duplicate key 'provider'"),
    ("name: t\nactors: [\n", 3, "YAML syntax error"),
    (GOOD + "    poll: busy\n", 8, "poll 'busy': choose one of spin, epoll"),
    (GOOD + "    poll: epoll\n    spin_us: 50\n", 9, "spin_us applies only to poll: spin"),
    (GOOD + "    spin_us: 0\n", 8, "spin_us must be between 1 and 10000"),
])
def test_errors_name_file_and_line(tmp_path, text, line, fragment):
    err = error_of(write(tmp_path, text))
    assert fragment in err.message
    assert err.path.endswith("topo.yaml")
    assert err.line == line, str(err)


def test_unknown_key_hint_lists_valid_keys(tmp_path):
    err = error_of(write(tmp_path, GOOD + "    colour: red\n"))
    assert "subscribe" in err.hint and "class" in err.hint


def test_missing_file():
    err = error_of(Path("/nonexistent/topology.yaml"))
    assert "no such file" in str(err)


def test_cli_exits_2_with_the_location(tmp_path):
    path = write(tmp_path, GOOD + "    colour: red\n")
    result = CliRunner().invoke(main, ["status", "-t", str(path)])
    assert result.exit_code == 2
    assert f"{path}:8:5: unknown key 'colour'" in result.output


def test_cli_unknown_topology_name_lists_shipped_ones():
    result = CliRunner().invoke(main, ["up", "no-such-topology"])
    assert result.exit_code == 2
    assert "demo" in result.output


def test_cli_unknown_actor_name(tmp_path):
    result = CliRunner().invoke(main, ["actor", "nobody", "-t", str(write(tmp_path, GOOD))])
    assert result.exit_code == 2
    assert "no actor named 'nobody'" in result.output and "provider" in result.output
