"""The `honeytrace` commands scripts rely on, with their --json outputs."""

import csv
import io
import json
import os
import pty
import random
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from app.canary_index import key_table_path
from app.cli import cli
from app.console import width
from app.db import make_engine
from app.models.canaries import Canary
from app.models.links import Link
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.keytable import KeyTable
from canaries.mint import LinkProfile, Minter
from tests.conftest import BACKENDS, scratch_postgres_database


@pytest.fixture(params=BACKENDS)
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"HONEYTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
        return
    with scratch_postgres_database() as url:
        yield {"HONEYTRACE_DATABASE_URL": url}


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_first_admin_key_links_and_a_partner_key(cli_env: dict[str, str], tmp_path: Path) -> None:
    if "postgresql" in cli_env["HONEYTRACE_DATABASE_URL"]:
        refused = CliRunner().invoke(cli, ["links", "list"], env=cli_env)
        assert refused.exit_code == 1
        assert "honeytrace db upgrade" in refused.stderr
        run(cli_env, "db", "upgrade")

    admin = json.loads(run(cli_env, "keys", "create", "--role", "admin", "--json"))
    assert admin["role"] == "admin"
    assert admin["key"].startswith(f"ht_{admin['prefix']}_")
    uuid.UUID(admin["id"])

    head = json.loads(
        run(cli_env, "links", "add", "--name", "总部", "--kind", "head_office",
            "--region", "110000", "--courier", "sf", "--json")
    )  # fmt: skip
    platform = json.loads(
        run(cli_env, "links", "add", "--name", "平台", "--kind", "platform", "--region",
            "330106", "--courier", "sf", "--parent", head["id"], "--json")
    )  # fmt: skip
    assert platform["parent_id"] == head["id"]
    assert platform["region_name"] == "浙江省 杭州市 西湖区"

    partner = json.loads(
        run(cli_env, "keys", "create", "--role", "partner", "--scope", platform["id"], "--json")
    )
    assert partner["scope_link_id"] == platform["id"]

    csv_file = tmp_path / "links.csv"
    csv_file.write_bytes(
        f"ref,name,kind,region,courier,parent\nm1,店铺,merchant,440305,sf,{platform['id']}\n".encode(
            "gb18030"
        )
    )
    report = json.loads(run(cli_env, "links", "import", str(csv_file), "--json"))
    assert report["created"] == 1

    listed = json.loads(run(cli_env, "links", "list", "--json"))
    assert {x["name"] for x in listed} == {"总部", "平台", "店铺"}
    keys = run(cli_env, "keys", "list")
    assert admin["key"] not in keys
    assert admin["prefix"] in keys


def test_bad_input_exits_non_zero_with_a_message(cli_env: dict[str, str], tmp_path: Path) -> None:
    if "postgresql" in cli_env["HONEYTRACE_DATABASE_URL"]:
        run(cli_env, "db", "upgrade")
    runner = CliRunner()
    bad_region = runner.invoke(
        cli,
        ["links", "add", "--name", "x", "--kind", "outlet", "--region", "999999",
         "--courier", "sf"],
        env=cli_env,
    )  # fmt: skip
    assert bad_region.exit_code == 1
    assert "999999" in bad_region.stderr
    partner_without_scope = runner.invoke(cli, ["keys", "create", "--role", "partner"], env=cli_env)
    assert partner_without_scope.exit_code == 1
    assert "scope" in partner_without_scope.stderr
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("name,kind,region,courier\nx,outlet,123456,sf\n")
    imported = runner.invoke(cli, ["links", "import", str(bad_csv)], env=cli_env)
    assert imported.exit_code == 1
    assert "line 2: region" in imported.stderr


def test_production_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    env = {
        "HONEYTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "HONEYTRACE_ENVIRONMENT": "production",
        "HONEYTRACE_SECRET_KEY": "changethis",
    }
    result = CliRunner().invoke(cli, ["links", "list"], env=env)
    assert result.exit_code == 2
    assert "HONEYTRACE_SECRET_KEY" in result.stderr
    assert "changethis" not in result.stderr


def test_mint_plants_at_the_link_and_prints_jsonl_or_csv(cli_env: dict[str, str]) -> None:
    if "postgresql" in cli_env["HONEYTRACE_DATABASE_URL"]:
        run(cli_env, "db", "upgrade")
    link = json.loads(
        run(cli_env, "links", "add", "--name", "网点", "--kind", "outlet", "--region", "440305",
            "--courier", "yto", "--json")
    )  # fmt: skip
    lines = run(cli_env, "mint", "--link", link["id"], "--count", "5").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 5
    assert list(records[0]) == [
        "id", "link_id", "courier", "waybill_no", "name", "mobile", "province", "city",
        "district", "address", "item", "weight_kg", "created_at", "control",
    ]  # fmt: skip
    assert all(r["link_id"] == link["id"] and r["waybill_no"].startswith("YT") for r in records)
    assert all(r["district"] == "南山区" for r in records)
    table = run(cli_env, "mint", "--link", link["id"], "--count", "3", "--format", "csv")
    assert table.startswith("\ufeffid,link_id,courier,waybill_no,name,mobile"), "a BOM for Excel"
    rows = list(csv.DictReader(io.StringIO(table.removeprefix("\ufeff"))))
    assert len(rows) == 3
    assert {r["control"] for r in rows} == {"false"}
    both = CliRunner().invoke(
        cli,
        ["mint", "--link", link["id"], "--count", "1", "--format", "csv", "--json"],
        env=cli_env,
    )
    assert both.exit_code == 2
    assert "--json" in both.stderr and "--format csv" in both.stderr
    assert both.stdout == ""
    missing = CliRunner().invoke(
        cli, ["mint", "--link", str(uuid.uuid4()), "--count", "1"], env=cli_env
    )
    assert missing.exit_code == 2
    assert "no link has the id" in missing.stderr


def test_mint_leaves_the_key_table_holding_every_canary(cli_env: dict[str, str]) -> None:
    """The next scan starts from the key table: a mint appends its canaries (and controls)
    there, so no scan derives their keys again before it can read a row."""
    url = cli_env["HONEYTRACE_DATABASE_URL"]
    if "postgresql" in url:
        run(cli_env, "db", "upgrade")
    path = key_table_path(Settings(database_url=url))
    assert path is not None
    path.unlink(missing_ok=True)
    run(cli_env, "links", "add", "--name", "网点", "--kind", "outlet", "--region", "440305",
        "--courier", "yto")  # fmt: skip
    for count in ("40", "25"):
        run(cli_env, "mint", "--link", "网点", "--count", count)
        table = KeyTable(path)
        table.load()
        engine = make_engine(url)
        with Session(engine) as session:
            stored = set(session.exec(select(Canary.id)).all())
        engine.dispose()
        assert len(stored) > int(count)  # the controls minted beside them
        assert table.index.rows == len(stored)


def test_canaries_audit_prints_the_figures_and_the_auc(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    if "postgresql" in cli_env["HONEYTRACE_DATABASE_URL"]:
        run(cli_env, "db", "upgrade")
    empty = CliRunner().invoke(cli, ["canaries", "audit"], env=cli_env)
    assert empty.exit_code == 1
    link = json.loads(
        run(cli_env, "links", "add", "--name", "平台", "--kind", "platform", "--region", "110000",
            "--courier", "jd", "--json")
    )  # fmt: skip
    # Two samples of one distribution: the AUCs are noise, about 0.5 +- 0.01 at 2,000 a side
    # (+- 0.017 at 600 a side, where address tokens once reached 0.559, over the 0.55 goal).
    run(cli_env, "mint", "--link", link["id"], "--count", "2000")
    stats = json.loads(run(cli_env, "canaries", "audit", "--json"))
    assert stats["count"] == 2100  # 2,000 planted and 100 controls
    assert stats["division_consistency_rate"] == 1.0
    assert stats["waybill_validity_rate"] == 1.0
    assert stats["duplicate_waybills"] == 0

    # A "reference" that is really another national batch of canaries: nothing to tell apart.
    reference = tmp_path / "reference.csv"
    rng = random.Random(11)
    minter = Minter(LinkProfile(courier=Courier.JD), rng)
    lines = ["收件人,联系电话,收货地址,运单号"]
    for canary in minter.mint(2000):
        lines.append(
            f"{canary.name},{canary.mobile},"
            f"{canary.province}{canary.city}{canary.district}{canary.address},{canary.waybill_no}"
        )
    reference.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    audited = json.loads(run(cli_env, "canaries", "audit", "--reference", str(reference), "--json"))
    assert audited["classifier"]["auc"] <= 0.6
    text = run(cli_env, "canaries", "audit", "--reference", str(reference))
    assert "classifier_auc" in text
    # For a person: labelled lines, shares as percentages, no Python dicts or 16-digit floats.
    assert re.search(r"^division consistency +100\.0%$", text, re.MULTILINE)
    assert re.search(r"^canaries audited +2,100$", text, re.MULTILINE)
    assert not re.search(r"[{}]|\[\(|\d\.\d{4,}", text), text


def test_version_is_printed_without_a_database() -> None:
    result = CliRunner().invoke(
        cli,
        ["--version"],
        env={"HONEYTRACE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"honeytrace {version('honeytrace')}\n"


def _links(env: dict[str, str], tmp_path: Path) -> dict[str, dict[str, str]]:
    """总部 above 平台 above 店铺 (imported with ref m1), and 网点 on its own."""
    if "postgresql" in env["HONEYTRACE_DATABASE_URL"]:
        run(env, "db", "upgrade")
    head = json.loads(
        run(env, "links", "add", "--name", "总部", "--kind", "head_office", "--region", "110000",
            "--courier", "sf", "--json")
    )  # fmt: skip
    platform = json.loads(
        run(env, "links", "add", "--name", "平台", "--kind", "platform", "--region", "330106",
            "--courier", "sf", "--parent", "总部", "--json")
    )  # fmt: skip
    outlet = json.loads(
        run(env, "links", "add", "--name", "网点", "--kind", "outlet", "--region", "440305",
            "--courier", "yto", "--json")
    )  # fmt: skip
    csv_file = tmp_path / "links.csv"
    csv_file.write_text(
        f"ref,name,kind,region,courier,parent\nm1,店铺,merchant,440305,sf,{platform['id']}\n"
    )
    run(env, "links", "import", str(csv_file))
    shop = next(x for x in json.loads(run(env, "links", "list", "--json")) if x["name"] == "店铺")
    return {"总部": head, "平台": platform, "网点": outlet, "店铺": shop}


def _mint_one(env: dict[str, str], link: str) -> dict[str, str]:
    result = CliRunner().invoke(cli, ["mint", "--link", link, "--count", "1"], env=env)
    assert result.exit_code == 0, result.output
    record: dict[str, str] = json.loads(result.stdout)
    return record


def test_a_link_is_named_by_full_id_short_id_ref_or_name(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    links = _links(cli_env, tmp_path)
    assert links["平台"]["parent_id"] == links["总部"]["id"], "--parent took a name"
    shop = links["店铺"]["id"]
    for typed in (shop, shop.replace("-", ""), shop[:8], shop[:6], shop[:13].upper(), "m1", "店铺"):
        assert _mint_one(cli_env, typed)["link_id"] == shop, typed

    refused = CliRunner().invoke(cli, ["mint", "--link", shop[:5], "--count", "1"], env=cli_env)
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1 and "no link matches" in refused.stderr


def test_a_name_or_short_id_that_fits_several_links_is_refused_naming_them(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    links = _links(cli_env, tmp_path)
    twin = uuid.UUID("abcdef01-0000-4000-8000-000000000001")
    other = uuid.UUID("abcdef02-0000-4000-8000-000000000002")
    engine = make_engine(cli_env["HONEYTRACE_DATABASE_URL"])
    with Session(engine) as session:
        for link_id in (twin, other):
            session.add(Link(id=link_id, name="网点", kind=LinkKind.OUTLET,
                             region_code="440305", courier=Courier.YTO))  # fmt: skip
        session.commit()
    engine.dispose()
    for typed, named in (("abcdef", "网点 (id abcdef01"), ("网点", links["网点"]["id"][:8])):
        refused = CliRunner().invoke(cli, ["mint", "--link", typed, "--count", "1"], env=cli_env)
        assert refused.exit_code == 2
        assert refused.stderr.count("\n") == 1
        assert "matches more than one link" in refused.stderr and named in refused.stderr
        assert refused.stdout == ""
    assert _mint_one(cli_env, "abcdef02")["link_id"] == str(other)
    assert _mint_one(cli_env, "abcdef01-0000")["link_id"] == str(twin)


def test_links_list_is_a_tree_with_a_header_parent_and_ref(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    links = _links(cli_env, tmp_path)
    lines = run(cli_env, "links", "list").splitlines()
    assert lines[0].split() == ["ID", "NAME", "KIND", "REGION", "REF", "PARENT", "STATE"]
    names = [line.split()[1] for line in lines[1:]]
    assert names == ["总部", "平台", "店铺", "网点"]  # by hierarchy, then by name
    shop = next(line for line in lines if "店铺" in line)
    assert shop.startswith(links["店铺"]["id"][:8])
    assert "    店铺" in shop, "a grandchild is indented twice"
    assert shop.split()[4:6] == ["m1", "平台"]
    # Columns line up under the header though the names are Chinese.
    assert width(shop[: shop.index(" m1 ") + 1]) == lines[0].index("REF")
    outlets = run(cli_env, "links", "list", "--kind", "outlet").splitlines()
    assert [line.split()[1] for line in outlets[1:]] == ["网点"]


def test_keys_are_revoked_by_name_and_scoped_by_ref(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    _links(cli_env, tmp_path)
    partner = json.loads(
        run(cli_env, "keys", "create", "--role", "partner", "--scope", "m1", "--name", "店铺系统",
            "--json")
    )  # fmt: skip
    assert partner["scope_link_id"] is not None
    table = run(cli_env, "keys", "list").splitlines()
    assert table[0].split() == ["ID", "KEY", "ROLE", "STATE", "LAST", "USED", "SCOPE", "NAME"]
    assert table[1].split()[-2:] == ["店铺", "店铺系统"], "the scope is named"
    revoked = run(cli_env, "keys", "revoke", "店铺系统")
    assert partner["id"] in revoked and "店铺系统" in revoked
    listed = json.loads(run(cli_env, "keys", "list", "--json"))
    assert listed[0]["revoked_at"] is not None


def test_scan_names_the_waybill_and_the_link(cli_env: dict[str, str], tmp_path: Path) -> None:
    _links(cli_env, tmp_path)
    record = _mint_one(cli_env, "m1")
    leak = tmp_path / "leak.csv"
    leak.write_text(
        "收件人,电话,地址,运单号\n"
        f"{record['name']},{record['mobile']},"
        f"{record['province']}{record['city']}{record['district']}{record['address']},"
        f"{record['waybill_no']}\n",
        "utf-8",
    )
    text = run(cli_env, "scan", str(leak))
    assert f"waybill {record['waybill_no']} of link 店铺" in text
    assert record["id"] not in text
    (match,) = json.loads(run(cli_env, "scan", str(leak), "--json"))["matches"]
    assert (match["waybill_no"], match["link_name"]) == (record["waybill_no"], "店铺")


def test_progress_is_on_stderr_when_asked_and_stdout_is_unchanged(tmp_path: Path) -> None:
    env = {"HONEYTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'progress.db'}"}
    links = _links(env, tmp_path)
    runner = CliRunner()

    quiet = runner.invoke(cli, ["mint", "--link", "m1", "--count", "150"], env=env)
    assert quiet.exit_code == 0 and quiet.stderr == "", "no bar when stderr is not a terminal"
    for asked, extra_env in ((["--progress"], {}), ([], {"HONEYTRACE_PROGRESS": "1"})):
        shown = runner.invoke(
            cli, [*asked, "mint", "--link", "m1", "--count", "150"], env={**env, **extra_env}
        )
        assert shown.exit_code == 0, shown.output
        records = [json.loads(line) for line in shown.stdout.splitlines()]
        assert len(records) == 150 and {r["link_id"] for r in records} == {links["店铺"]["id"]}
        assert re.search(r"minted .* 158/158", shown.stderr), shown.stderr  # 150 and 8 controls
    silenced = runner.invoke(
        cli, ["-q", "mint", "--link", "m1", "--count", "5"], env={**env, "HONEYTRACE_PROGRESS": "1"}
    )
    assert silenced.exit_code == 0 and silenced.stderr == ""

    record = _mint_one(env, "m1")
    leak = tmp_path / "leak.csv"
    leak.write_text(
        f"收件人,电话,运单号\n{record['name']},{record['mobile']},{record['waybill_no']}\n", "utf-8"
    )
    plain, shown = (
        runner.invoke(cli, [*asked, "scan", str(leak), "--json"], env=env)
        for asked in ([], ["--progress"])
    )
    assert plain.stderr == "" and "leak.csv: 1 rows, 1 matches" in shown.stderr
    assert _without_timing(plain.stdout) == _without_timing(shown.stdout)

    audited = runner.invoke(cli, ["--progress", "canaries", "audit"], env=env)
    assert audited.exit_code == 0, audited.output
    assert re.search(r"read the canaries .* 480/480", audited.stderr), audited.stderr
    assert "audited 480 canaries" in audited.stderr  # 456 planted and 24 controls
    assert "auditing" not in audited.stdout

    more = tmp_path / "more.csv"
    more.write_text("ref,name,kind,region,courier,parent\nm2,二店,merchant,440305,sf,m1\n")
    imported = runner.invoke(cli, ["--progress", "links", "import", str(more)], env=env)
    assert imported.stdout == f"imported 1 links from {more}\n"
    assert "imported more.csv" in imported.stderr


def _without_timing(stdout: str) -> dict[str, object]:
    report: dict[str, object] = json.loads(stdout)
    report.pop("seconds")
    return report


def test_a_terminal_on_stderr_gets_the_bar_and_stdout_only_the_records(tmp_path: Path) -> None:
    """Stderr a real terminal (a pty), stdout a pipe, as in `honeytrace mint … > file`."""
    env = {**os.environ, "HONEYTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'tty.db'}"}
    env.pop("HONEYTRACE_PROGRESS", None)
    command = [sys.executable, "-m", "app.cli"]
    subprocess.run(
        [*command, "links", "add", "--name", "网点", "--kind", "outlet", "--region", "440305",
         "--courier", "yto"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    terminal, pty_end = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        """Read the terminal while the command draws on it: a full pty buffer would block
        a slow mint's bar (and the test) for ever. Ends at EOF or EIO, once it has exited
        and our end of it is closed."""
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    done = subprocess.run(
        [*command, "mint", "--link", "网点", "--count", "120"],
        env=env, stdout=subprocess.PIPE, stderr=pty_end, check=True,
    )  # fmt: skip
    os.close(pty_end)
    reader.join(timeout=60)
    os.close(terminal)
    drawn = b"".join(chunks)
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(records) == 120
    assert b"minted" in drawn and b"126/126" in drawn  # 120 and 6 controls
