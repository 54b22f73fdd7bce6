"""The evidence store as routes receive it (app.resources says why this is apart)."""

from typing import Annotated

from fastapi import Depends

from app.evidence.store import EvidenceStore
from app.resources import resource

EvidenceDep = Annotated[EvidenceStore, Depends(resource(EvidenceStore))]
