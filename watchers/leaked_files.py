"""A leaked file read as a dump, as an observation: one per file, named by its sha256.

The file is matched row by row as it streams (watchers.scan: it is never held whole), so
its observation comes with its matched rows; each matched row is its own sighting
(`member|row` tells rows apart). The file itself is never kept (rule 5): its sha256 stands
as the evidence.
"""

from datetime import datetime

from watchers.observations import Observation, SourceKind
from watchers.scan import ScanResult


def dump_observation(result: ScanResult, observed_at: datetime) -> Observation:
    return Observation(
        kind=SourceKind.DUMP,
        source_id=result.sha256,
        observed_at=observed_at,
        text=f"file {result.name}",
        context={"file": result.name, "rows": str(result.report.rows)},
        file_sha256=result.sha256,
    )
