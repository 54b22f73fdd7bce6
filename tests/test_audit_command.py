"""`honeytrace canaries audit --reference`: any real export's columns are found, canaries are
masked as the export is, and the command fails when a buyer tells them apart.

Every reference here is generated (canaries written as an export would); no real person."""

import json
import random
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from canaries.couriers import Courier
from canaries.mint import LinkProfile, Minter

HEADERS = "运单编号,收货客户名称,号码,目的站：省,目的站：市,目的站：区,收货客户地址（收件地址）,列8"


def _export(path: Path, seed: int, street: "str | None" = None) -> None:
    """An export the way a courier's system writes one: compound headers, masked names, the
    address repeating the divisions, mobiles under a header that says nothing (号码)."""
    rng = random.Random(seed)
    lines = [HEADERS]
    for canary in Minter(LinkProfile(courier=Courier.ZTO), rng).mint(800):
        name = canary.name[0] + "*" + canary.name[-1]
        address = street or canary.address
        lines.append(
            f"{canary.waybill_no},{name},{canary.mobile},{canary.province},{canary.city},"
            f"{canary.district},{canary.province}{canary.city}{canary.district}{address},"
            f"{rng.choice(('已揽收', '运输中'))}"
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))


def _env(tmp_path: Path) -> dict[str, str]:
    env = {"HONEYTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.db'}"}
    runner = CliRunner()
    link = json.loads(
        runner.invoke(
            cli,
            ["links", "add", "--name", "平台", "--kind", "platform", "--region", "110000",
             "--courier", "zto", "--json"],
            env=env,
        ).stdout
    )  # fmt: skip
    minted = runner.invoke(cli, ["mint", "--link", link["id"], "--count", "800"], env=env)
    assert minted.exit_code == 0, minted.output
    return env


def test_an_export_with_compound_headers_is_read_and_canaries_pass(tmp_path: Path) -> None:
    env = _env(tmp_path)
    reference = tmp_path / "export.csv"
    _export(reference, 3)
    result = CliRunner().invoke(
        cli, ["canaries", "audit", "--reference", str(reference), "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    classifier = json.loads(result.stdout)["classifier"]
    assert classifier["group_aucs"]["buyer_visible"] <= 0.6
    assert classifier["group_aucs"]["address_tokens"] <= 0.55
    assert "name_pattern" in classifier["feature_aucs"], "canaries were masked as the export"
    assert "mobile_prefix" in classifier["feature_aucs"], "the 号码 column was read by content"


def test_a_reference_a_buyer_tells_apart_fails_the_command(tmp_path: Path) -> None:
    env = _env(tmp_path)
    reference = tmp_path / "export.csv"
    _export(reference, 4, street="科技园南区深圳湾生态园9栋B座1201")
    result = CliRunner().invoke(cli, ["canaries", "audit", "--reference", str(reference)], env=env)
    assert result.exit_code == 2
    assert "TOO EASY TO TELL APART" in result.stdout
    assert "address tokens" in result.stdout
