"""`honeytrace demo` tells the whole story on SQLite with no network, and names the leaker."""

import re
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli


def test_the_demo_names_the_leaking_outlet_first(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--exit", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "新增 3 条发现" in out  # the three canaries on the trading site
    assert "命中 1 条 (scam SMS)" in out
    assert "命中刷单订单 1 笔" in out
    leaker = re.search(r"The leak was staged at (\S+) \(", out)
    assert leaker is not None
    # One leak seen on a site, by SMS and by a brushing order: one incident, naming the
    # leaking outlet first.
    (incident,) = re.findall(r"^  事件 incident \S+: 5 sightings \((.*)\)$", out, re.MULTILINE)
    assert incident == "order, site, sms", out
    firsts = re.findall(r"^    1\. (\S+) \(\w+\)  p=([0-9.]+)$", out, re.MULTILINE)
    assert [name for name, _ in firsts] == [leaker.group(1)], out
    assert float(firsts[0][1]) >= 0.9, out
    assert re.search(r"Investigator pages: http://127\.0\.0\.1:\d+/", out)
    assert (tmp_path / "demo" / "demo.db").exists()
