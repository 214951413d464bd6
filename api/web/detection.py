"""The detection preview for managers: who the scan would flag now, and the last runs."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import DatabaseDep, SettingsDep
from api.web.render import render
from api.web.session import Managers
from closeout.detection.detector import Detector, Disposition
from closeout.detection.repository import detection_repository

router = APIRouter(tags=["web"], include_in_schema=False)
SHOWN = 200


@router.get("/detection")
def detection_preview(
    request: Request, user: Managers, settings: SettingsDep, db: DatabaseDep
) -> Response:
    """What tonight's run would do, by trigger and churn class, with the evidence."""
    inputs = request.app.state.adapters.detection
    scan = Detector(db, settings.detection, inputs).scan(datetime.now(UTC))
    return render(
        request,
        user,
        "detection",
        scan=scan,
        counts=scan.counts(),
        shown=scan.candidates[:SHOWN],
        new=len(scan.of(Disposition.NEW)),
        open_cases=len(scan.of(Disposition.OPEN_CASE)),
        excluded=len(scan.of(Disposition.EXCLUDED)),
        cooling_down=len(scan.of(Disposition.COOLING_DOWN)),
        runs=detection_repository(settings, db).runs(10),
        settings=settings.detection,
    )
