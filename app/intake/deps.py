"""The intake as routes receive it (app.resources says why this is apart)."""

from typing import Annotated

from fastapi import Depends

from app.intake.pipeline import Intake
from app.resources import resource

IntakeDep = Annotated[Intake, Depends(resource(Intake))]
