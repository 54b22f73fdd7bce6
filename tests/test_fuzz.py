"""The whole API under a schema-driven fuzzer (schemathesis over `/openapi.json`).

A real `serve` on loopback, on SQLite and on PostgreSQL, with a courier's links and planted
canaries, called by an admin key: every operation gets generated requests, valid and not,
and every answer must be no server error, a status the document lists, the content type
it states (problem+json for errors) and a body its schema admits. A second run chains
operations by the links the document declares (the stateful run).
"""

import random
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition, Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode, checks

from app.auth.actor import Actor
from app.auth.keys import issue_key
from app.db import Database
from app.main import create_app
from app.models.canaries import PlantChannel
from app.models.keys import Role
from app.planting.service import mint_canaries
from app.settings import Settings
from attribution.kinds import LinkKind
from canaries.divisions import division_table
from tests.conftest import BACKENDS, migrated_database, session_scope
from tests.loopback import serving

pytestmark = pytest.mark.slow

# What the document's formats promise, as strategies: codes from the division table, mobile
# numbers of the operator's own (generated, owned by nobody), selectors that parse.
schemathesis.openapi.format(
    "gbt2260-code", st.sampled_from(sorted(d.code for d in division_table().all()))
)
schemathesis.openapi.format("cn-mobile", st.integers(0, 99_999_999).map(lambda n: f"+86170{n:08d}"))
schemathesis.openapi.format(
    "css-selector", st.sampled_from(["a", "div.item a", "table tr", "a.next", "#list li > a"])
)

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.ignored_auth,
]
EXAMPLES = 60  # valid cases per operation and backend (and 20 invalid): about 5,000 requests
STATEFUL_EXAMPLES = 150  # sequences of up to 8 calls, in a few sessions
STATEFUL_SESSIONS = 5


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL, admin key) of a served app over a courier with planted canaries."""
    tmp = tmp_path_factory.mktemp("fuzz")
    with migrated_database(request.param, tmp) as (url, engine):
        with session_scope(engine) as session:
            from app.links.schemas import LinkCreate
            from app.links.service import create_link
            from canaries.couriers import Courier

            head = create_link(
                session,
                Actor.cli(),
                LinkCreate(name="总部", kind=LinkKind.HEAD_OFFICE, region="330000",
                           courier=Courier.ZTO),
            )  # fmt: skip
            outlet = create_link(
                session,
                Actor.cli(),
                LinkCreate(name="西湖网点", kind=LinkKind.OUTLET, region="330106",
                           courier=Courier.ZTO, parent_id=head.id),
            )  # fmt: skip
            mint_canaries(session, Actor.cli(), outlet.id, 20, PlantChannel.CLI,
                          rng=random.Random(1))  # fmt: skip
            key = issue_key(session, role=Role.ADMIN, name="fuzzer").secret
        settings = Settings(
            database_url=url,
            evidence_dir=str(tmp / "evidence"),
            scan_spool_dir=str(tmp),
            twilio_auth_token=SecretStr("t" * 32),
            telephony_secrets={"aliyun": SecretStr("s" * 32)},
            jobs_in_process=True,
            requests_per_second=1000,
            rotation_interval_seconds=0,
            site_check_interval_seconds=0,
        )
        with serving(create_app(settings, Database(engine))) as base:
            yield base, key


@pytest.fixture(scope="module")
def api(served: tuple[str, str]) -> Any:
    base, _ = served
    return schemathesis.openapi.from_url(f"{base}/openapi.json")


def _fuzz(strategy: Any, examples: int, headers: dict[str, str]) -> bool:
    """Run generated cases of one operation; whether any of them succeeded (2xx). Check
    failures propagate as schemathesis's FailureGroup."""
    succeeded = False

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: Any) -> None:
        nonlocal succeeded
        answer = case.call_and_validate(headers=headers, checks=CHECKS)
        succeeded = succeeded or answer.status_code < 300

    run()
    return succeeded


def test_every_operation_answers_as_documented(api: Any, served: tuple[str, str]) -> None:
    """Each operation in turn, with valid and invalid data, its failures gathered so one run
    shows them all; and most operations must also have succeeded at least once (a fuzzer
    that only ever hears 401 or 422 tests nothing)."""
    _, key = served
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    succeeded: set[str] = set()
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 60
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, EXAMPLES), (GenerationMode.NEGATIVE, 20)):
            try:
                if _fuzz(operation.as_strategy(generation_mode=mode), examples, headers):
                    succeeded.add(operation.label)
            except BaseExceptionGroup as found:  # schemathesis's FailureGroup
                failures += [f"{operation.label} ({mode}): {f}"[:2000] for f in found.exceptions]
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode == GenerationMode.NEGATIVE
    assert failures == []
    # Without valid ids (the stateful run below chains them), most that succeed are lists.
    assert len(succeeded) >= 15, sorted(succeeded)


def test_the_document_is_valid_openapi(api: Any) -> None:
    """The document itself validates (schemathesis refuses invalid ones), lists every
    operation, and states problem+json for every error."""
    document = api.raw_schema
    operations = [
        (path, method, op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    ]
    assert len(operations) >= 60
    for path, method, op in operations:
        errors = {code: r for code, r in op["responses"].items() if not code.startswith("2")}
        assert "default" in errors, (method, path)
        for code, response in errors.items():
            assert "application/problem+json" in response.get("content", {}), (method, path, code)


def test_operations_chained_by_the_documents_links(api: Any, served: tuple[str, str]) -> None:
    """The stateful run: sequences of calls that create a link, a site, a number, a key, a
    subscription or a scan and then use it by the links the document declares."""
    _, key = served
    headers = {"Authorization": f"Bearer {key}"}
    machine = api.as_state_machine()
    succeeded: set[str] = set()

    class Keyed(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            if response.status_code < 300:
                succeeded.add(case.operation.label)

        def validate_response(self, response: Any, case: Any, *_: Any, **__: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)

    # As schemathesis's own runner does: a session whose replay the server's changed state
    # made draw differently is followed by a fresh one, until the sessions have run.
    ran = 0
    for seed in range(STATEFUL_SESSIONS * 4):
        session = settings(
            max_examples=STATEFUL_EXAMPLES // STATEFUL_SESSIONS,
            stateful_step_count=8,
            # A failing sequence is not shrunk (it could not be replayed the same way):
            # its steps are printed as they ran.
            phases=[Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        try:
            hypothesis_seed(seed)(partial(Keyed.run, settings=session))()
        except FlakyStrategyDefinition:
            continue
        ran += 1
        if ran == STATEFUL_SESSIONS:
            break
    assert ran == STATEFUL_SESSIONS
    # The links were followed: something created was then used by its id.
    assert any("{" in label for label in succeeded), sorted(succeeded)
