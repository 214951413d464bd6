"""The bare twin of the staff pages: each page's one indexed query, served over HTTP as rows.

    python bench/scale_bare.py DATABASE_URL PORT

A page and its twin run in processes of the same kind (uvicorn, one worker), on the same
database, so the ratio of the two is what the page adds to its query — sessions, access
rules, further lookups, the template — not the cost of HTTP.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from closeout.db import make_engine

# What each page lists, asked the way an index answers it.
QUERIES = {
    "inbox": """SELECT t.*, c.* FROM case_task t JOIN closure_case c ON c.id = t.case_id
                WHERE t.assignee = :who AND t.status = 'open'
                ORDER BY t.due_at, t.id LIMIT 20""",
    "task": """SELECT t.*, c.* FROM case_task t JOIN closure_case c ON c.id = t.case_id
               WHERE t.id = :id""",
    "cases": """SELECT * FROM closure_case WHERE owner = :who
                ORDER BY opened_at DESC, id DESC LIMIT 25""",
    "compliance": """SELECT * FROM closure_case WHERE stage = 'retention' AND outcome IS NULL
                     ORDER BY next_deletion_at, id LIMIT 25""",
}


def app(url: str) -> Starlette:
    engine = make_engine(url)
    statements = {name: text(sql) for name, sql in QUERIES.items()}

    def raw(request: Request) -> Response:  # in the thread pool, as the pages' routes are
        name = request.path_params["name"]
        with engine.connect() as conn:
            rows = conn.execute(statements[name], dict(request.query_params)).mappings().all()
        body: Any = [dict(r) for r in rows]
        return Response(json.dumps(body, default=str), media_type="application/json")

    return Starlette(routes=[Route("/raw/{name}", raw)])


if __name__ == "__main__":
    uvicorn.run(app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
