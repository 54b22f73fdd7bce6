"""A partner's client for honeytrace's API, on httpx: pull a link's canaries, acknowledge
the ones spliced into the feed, and report a sighting.

    export HONEYTRACE_URL=https://honeytrace.example      # default http://127.0.0.1:8000
    export HONEYTRACE_FEED_KEY=ht_...    # an integration key (scope it to the outlet's link)
    python examples/client.py feed LINK_ID --count 5 > canaries.jsonl
    export HONEYTRACE_REPORT_KEY=ht_...  # a partner (or investigator) key
    python examples/client.py report --text "出售快递数据 ..." --url-seen https://forum.example/t/1

Keys are read from the environment, never from the command line (where `ps` shows them).
Errors come back as RFC 9457 problem details (`application/problem+json`); they are raised
as `ProblemError` with the service's own words. A 429 is retried after `Retry-After`.
The full API is described at `/docs` (and `/openapi.json`) on the service itself.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

RETRIES = 5


class ProblemError(Exception):
    """An error answered by the service, as its problem document tells it."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("title") or "error"
        super().__init__(f"{status}: {detail}")


@dataclass(frozen=True)
class Batch:
    """Canaries pulled for a link, in the link's feed shape; acknowledge what was spliced."""

    batch_id: str
    link_id: str
    records: list[dict[str, Any]]


class Honeytrace:
    """The calls a partner makes. `transport` is for tests (httpx.MockTransport and such)."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> "Honeytrace":
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        for _ in range(RETRIES):
            answer = self._http.post(path, json=body)
            if answer.status_code != 429:
                break
            time.sleep(float(answer.headers.get("Retry-After", "1")))
        if answer.is_error:
            try:
                problem = answer.json()
            except ValueError:
                problem = {"detail": answer.text[:200]}
            raise ProblemError(answer.status_code, problem)
        return answer

    def pull(self, link_id: str, count: int) -> Batch:
        """`count` canaries for the link (1 to 1000), as JSON records keyed by the link's feed
        columns. They are planted only once acknowledged."""
        answer = self._post(f"/v1/links/{link_id}/feed/pull?format=json", {"count": count})
        body = answer.json()
        return Batch(body["batch_id"], body["link_id"], body["records"])

    def acknowledge(self, batch_id: str, spliced: Sequence[str]) -> dict[str, int]:
        """Tell which waybill numbers of the batch went out in the feed: those are planted,
        the rest of the batch expires. Returns {"planted": n, "expired": m}."""
        answer = self._post(f"/v1/feed/batches/{batch_id}/ack", {"spliced": list(spliced)})
        counts: dict[str, int] = answer.json()
        return counts

    def report(
        self,
        text: str,
        *,
        kind: str = "listing",
        url: str | None = None,
        reference: str | None = None,
        observed_at: str | None = None,
    ) -> dict[str, Any]:
        """Report what was seen (a listing's text, an SMS, a note of a call). The service
        matches it against every canary; a partner is not told whether it matched."""
        body: dict[str, Any] = {"kind": kind, "text": text}
        optional = {"url": url, "reference": reference, "observed_at": observed_at}
        body.update({name: value for name, value in optional.items() if value is not None})
        result: dict[str, Any] = self._post("/v1/sightings", body).json()
        return result


def _key(variable: str) -> str:
    key = os.environ.get(variable, "")
    if not key:
        raise SystemExit(f"set {variable} to an API key (ht_...)")
    return key


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("HONEYTRACE_URL", "http://127.0.0.1:8000"))
    commands = parser.add_subparsers(dest="command", required=True)
    feed = commands.add_parser("feed", help="pull canaries, print them, acknowledge them")
    feed.add_argument("link_id")
    feed.add_argument("--count", type=int, default=5)
    report = commands.add_parser("report", help="report a sighting")
    report.add_argument("--text", required=True)
    report.add_argument("--kind", choices=["listing", "sms", "call_note"], default="listing")
    report.add_argument("--url-seen", dest="seen_url")
    report.add_argument("--reference")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "feed":
            with Honeytrace(arguments.url, _key("HONEYTRACE_FEED_KEY")) as client:
                batch = client.pull(arguments.link_id, arguments.count)
                # Here a dispatch system splices the records into its outbound feed; this
                # example writes them out, one JSON object a line, and counts them as sent.
                for record in batch.records:
                    print(json.dumps(record, ensure_ascii=False))
                sent = [str(record["waybill_no"]) for record in batch.records]
                counts = client.acknowledge(batch.batch_id, sent)
            print(f"batch {batch.batch_id}: {counts}", file=sys.stderr)
        else:
            with Honeytrace(arguments.url, _key("HONEYTRACE_REPORT_KEY")) as client:
                result = client.report(
                    arguments.text,
                    kind=arguments.kind,
                    url=arguments.seen_url,
                    reference=arguments.reference,
                )
            print(json.dumps(result, ensure_ascii=False))
    except ProblemError as error:
        print(f"honeytrace refused: {error}", file=sys.stderr)
        for field in error.problem.get("errors", []):
            print(f"  {field['field']}: {field['message']}", file=sys.stderr)
        return 1
    except httpx.HTTPError as error:
        print(f"honeytrace did not answer: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
