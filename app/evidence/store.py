"""Evidence blobs on disk, content-addressed: a file's name is its sha256.

Only evidence behind a sighting is kept (a page or message without a canary is somebody
else's data, rule 5). Writes go to a temporary file renamed into place, so a blob is
either whole or absent, and storing the same bytes twice stores them once.
"""

import os
import tempfile
from pathlib import Path

from watchers.observations import Evidence


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def put(self, evidence: Evidence) -> str:
        digest = evidence.sha256
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(evidence.content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
