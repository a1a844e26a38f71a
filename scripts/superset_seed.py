"""Seed a running Superset (6.1.x) through its REST API, idempotently.

Run by `scripts/superset.sh seed` with the Superset venv's Python (only the
`requests` that Superset depends on is needed). The table analytics.public.sales
must exist (the shell script creates it with psql).

Creates, unless they exist (looked up by name):
  database "analytics" -> dataset public.sales -> chart "Sales by region"
  (viz_type "table", aggregate mode) -> dashboard "Sales" (slug "sales")
then checks that POST /api/v1/chart/data for the chart returns 200 with rows
and that POST /api/v1/sqllab/execute/ runs a SELECT, and writes:
  <out>                         the working POST /api/v1/chart/data body
  <out dir>/sqllab-execute.json the working POST /api/v1/sqllab/execute/ body
  <out dir>/seed.json           ids: database_id, dataset_id, chart_id, dashboard_id

What worked against 6.1.0 (checked in the installed sources: superset/charts/
schemas.py ChartPostSchema and ChartDataQueryContextSchema, superset/datasets/
schemas.py DatasetPostSchema, superset/sqllab/schemas.py ExecutePayloadSchema,
superset/databases/schemas.py DatabasePostSchema):

* POST /api/v1/security/login {"username","password","provider":"db","refresh":true}
  -> {"access_token": JWT, "refresh_token": JWT}. It is CSRF-exempt (FAB's
  SecurityApi keeps FAB's default csrf_exempt = True).
* Superset's own APIs set csrf_exempt = False: every POST/PUT/DELETE needs a
  CSRF token even with "Authorization: Bearer <JWT>". GET
  /api/v1/security/csrf_token/ (with the bearer header) -> {"result": TOKEN}
  and a Set-Cookie "session=..." that holds the token's secret: send that
  cookie back with the X-CSRFToken header. Without them: 400 "The CSRF token
  is missing." POST /api/v1/chart/data is in WTF_CSRF_EXEMPT_LIST (no token
  needed, the JWT alone is enough).
* POST /api/v1/database/ {"database_name","sqlalchemy_uri","expose_in_sqllab",
  "allow_dml","configuration_method":"sqlalchemy_form"} -> 201 {"id", "result"}.
* POST /api/v1/dataset/ {"database": <db id>, "schema": "public",
  "table_name": "sales"} -> 201 {"id", "result"}.
* POST /api/v1/chart/ {"slice_name","viz_type","datasource_id",
  "datasource_type":"table","params": <JSON string>, "query_context": <JSON
  string>, "dashboards": [<id>]} -> 201 {"id", "result"}; params and
  query_context are strings holding JSON, not objects.
* POST /api/v1/chart/data: the query context itself (an object, see
  chart_data_body()) -> 200 {"result": [{"data": [...], "rowcount": N, ...}]}.
* POST /api/v1/sqllab/execute/ {"database_id", "sql", "runAsync": false,
  "schema": "public"} -> 200 {"status": "success", "data": [...], ...}.
  (The notes elsewhere are right: it inserts a Query row per call.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import requests

DB_NAME = "analytics"
SCHEMA = "public"
TABLE = "sales"
CHART_NAME = "Sales by region"
DASHBOARD_TITLE = "Sales"
DASHBOARD_SLUG = "sales"
TIMEOUT = 60  # seconds per HTTP request

SUM_AMOUNT = {
    "expressionType": "SIMPLE",
    "column": {"column_name": "amount"},
    "aggregate": "SUM",
    "label": "SUM(amount)",
}


def log(msg: str) -> None:
    print(f"[superset_seed] {msg}", file=sys.stderr, flush=True)


def rison(value: Any) -> str:
    """Encode a value as Rison (what FAB's ?q= takes); enough for filters."""
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if value is None:
        return "!n"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if value and re.fullmatch(r"[A-Za-z_./~-][A-Za-z0-9_./~-]*", value):
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, (list, tuple)):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{k}:{rison(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"cannot rison-encode {type(value)}")


class Client:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.s = requests.Session()
        self.s.trust_env = False  # never via an HTTP proxy: everything is local
        r = self.s.post(
            f"{self.url}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": True},
            timeout=TIMEOUT,
        )
        self.check(r, "login")
        self.s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        # The CSRF token's secret lives in the (signed cookie) session that
        # this GET sets; requests.Session sends the cookie back from now on.
        r = self.s.get(f"{self.url}/api/v1/security/csrf_token/", timeout=TIMEOUT)
        self.check(r, "csrf_token")
        self.s.headers["X-CSRFToken"] = r.json()["result"]
        # Flask-WTF checks the Referer only for https; harmless to send.
        self.s.headers["Referer"] = self.url + "/"

    @staticmethod
    def check(r: requests.Response, what: str, ok: tuple[int, ...] = (200, 201)) -> None:
        if r.status_code not in ok:
            raise SystemExit(f"{what}: HTTP {r.status_code}: {r.text[:1000]}")

    def get(self, path: str, **kw: Any) -> dict[str, Any]:
        r = self.s.get(self.url + path, timeout=TIMEOUT, **kw)
        self.check(r, f"GET {path}")
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.s.post(self.url + path, json=body, timeout=TIMEOUT)
        self.check(r, f"POST {path}")
        return r.json()

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.s.put(self.url + path, json=body, timeout=TIMEOUT)
        self.check(r, f"PUT {path}")
        return r.json()

    def find(self, resource: str, filters: list[tuple[str, str, Any]]) -> int | None:
        q = {
            "filters": [{"col": c, "opr": o, "value": v} for c, o, v in filters],
            "page_size": 100,
        }
        res = self.get(f"/api/v1/{resource}/", params={"q": rison(q)})["result"]
        return res[0]["id"] if res else None


def chart_params(dataset_id: int) -> dict[str, Any]:
    return {
        "datasource": f"{dataset_id}__table",
        "viz_type": "table",
        "query_mode": "aggregate",
        "groupby": ["region"],
        "metrics": [SUM_AMOUNT],
        "all_columns": [],
        "percent_metrics": [],
        "adhoc_filters": [],
        "order_desc": True,
        "row_limit": 1000,
        "server_page_length": 10,
        "time_range": "No filter",
    }


def chart_data_body(dataset_id: int, chart_id: int | None = None) -> dict[str, Any]:
    """The query context: stored in the chart, and the chart/data request body."""
    form_data = chart_params(dataset_id)
    if chart_id is not None:
        form_data["slice_id"] = chart_id
    return {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": False,
        "queries": [
            {
                "columns": ["region"],
                "metrics": [SUM_AMOUNT],
                "orderby": [[SUM_AMOUNT, False]],
                "filters": [],
                "extras": {"having": "", "where": ""},
                "row_limit": 1000,
                "time_range": "No filter",
                "annotation_layers": [],
                "custom_params": {},
                "custom_form_data": {},
            }
        ],
        "form_data": form_data,
        "result_format": "json",
        "result_type": "full",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="Superset base URL")
    ap.add_argument("--analytics-uri", required=True, help="SQLAlchemy URI of the analytics DB")
    ap.add_argument("--out", required=True, help="where to write the chart-data request body")
    ap.add_argument("--username", default="admin")
    args = ap.parse_args()
    password = os.environ.get("SHA_SUPERSET_ADMIN_PASSWORD", "admin")
    out = Path(args.out)
    t0 = time.monotonic()

    c = Client(args.url, args.username, password)
    log(f"logged in to {c.url} as {args.username}")

    # (3) the analytics database
    db_id = c.find("database", [("database_name", "eq", DB_NAME)])
    if db_id is None:
        db_id = c.post(
            "/api/v1/database/",
            {
                "database_name": DB_NAME,
                "sqlalchemy_uri": args.analytics_uri,
                "expose_in_sqllab": True,
                "allow_dml": False,
                "configuration_method": "sqlalchemy_form",
            },
        )["id"]
        log(f"registered database {DB_NAME!r}: id {db_id}")
    else:
        log(f"database {DB_NAME!r} exists: id {db_id}")

    # (4) the dataset
    ds_id = c.find("dataset", [("table_name", "eq", TABLE), ("database", "rel_o_m", db_id)])
    if ds_id is None:
        ds_id = c.post(
            "/api/v1/dataset/", {"database": db_id, "schema": SCHEMA, "table_name": TABLE}
        )["id"]
        log(f"created dataset {SCHEMA}.{TABLE}: id {ds_id}")
    else:
        log(f"dataset {SCHEMA}.{TABLE} exists: id {ds_id}")

    # (6, first half) the dashboard, so that the chart can be put on it
    dash_id = c.find("dashboard", [("slug", "eq", DASHBOARD_SLUG)])
    if dash_id is None:
        dash_id = c.post(
            "/api/v1/dashboard/",
            {"dashboard_title": DASHBOARD_TITLE, "slug": DASHBOARD_SLUG, "published": True},
        )["id"]
        log(f"created dashboard {DASHBOARD_TITLE!r}: id {dash_id}")
    else:
        log(f"dashboard {DASHBOARD_TITLE!r} exists: id {dash_id}")

    # (5) the chart (updated in place if it exists, so that it always matches)
    chart_id = c.find("chart", [("slice_name", "eq", CHART_NAME)])
    chart = {
        "slice_name": CHART_NAME,
        "viz_type": "table",
        "datasource_id": ds_id,
        "datasource_type": "table",
        "params": json.dumps(chart_params(ds_id)),
        "query_context": json.dumps(chart_data_body(ds_id, chart_id)),
        "dashboards": [dash_id],
    }
    if chart_id is None:
        chart_id = c.post("/api/v1/chart/", chart)["id"]
        # now that the id is known, store it in the form data too
        c.put(f"/api/v1/chart/{chart_id}", {"query_context": json.dumps(chart_data_body(ds_id, chart_id))})
        log(f"created chart {CHART_NAME!r}: id {chart_id}")
    else:
        c.put(f"/api/v1/chart/{chart_id}", chart)
        log(f"chart {CHART_NAME!r} exists: id {chart_id} (updated)")

    # (6, second half) a layout with the chart in it
    position = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": ["ROW-1"], "parents": ["ROOT_ID"]},
        "ROW-1": {
            "type": "ROW",
            "id": "ROW-1",
            "children": [f"CHART-{chart_id}"],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        },
        f"CHART-{chart_id}": {
            "type": "CHART",
            "id": f"CHART-{chart_id}",
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID", "ROW-1"],
            "meta": {"chartId": chart_id, "width": 6, "height": 50, "sliceName": CHART_NAME},
        },
    }
    c.put(f"/api/v1/dashboard/{dash_id}", {"position_json": json.dumps(position)})

    # check: the chart's data, with the body the tests will replay
    body = chart_data_body(ds_id, chart_id)
    res = c.post("/api/v1/chart/data", body)["result"][0]
    rows = res.get("data") or []
    if not rows:
        raise SystemExit(f"POST /api/v1/chart/data returned no rows: {json.dumps(res)[:1000]}")
    log(f"POST /api/v1/chart/data: 200, {len(rows)} rows, e.g. {rows[0]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")

    # check: SQL Lab (synchronous; no results backend)
    sql_body = {
        "database_id": db_id,
        "sql": f"SELECT count(*) AS n FROM {TABLE}",
        "runAsync": False,
        "schema": SCHEMA,
    }
    res = c.post("/api/v1/sqllab/execute/", sql_body)
    if res.get("status") != "success" or not res.get("data"):
        raise SystemExit(f"SQL Lab execute did not succeed: {json.dumps(res)[:1000]}")
    log(f"POST /api/v1/sqllab/execute/: 200, data {res['data']}")
    (out.parent / "sqllab-execute.json").write_text(json.dumps(sql_body, indent=2) + "\n", encoding="utf-8")

    ids = {
        "url": c.url,
        "database_id": db_id,
        "dataset_id": ds_id,
        "chart_id": chart_id,
        "dashboard_id": dash_id,
        "chart_data_body": str(out),
        "sqllab_execute_body": str(out.parent / "sqllab-execute.json"),
    }
    (out.parent / "seed.json").write_text(json.dumps(ids, indent=2) + "\n", encoding="utf-8")
    log(f"seeded in {time.monotonic() - t0:.1f} s")
    print(f"chart_id={chart_id}")
    print(f"chart-data body ({out}):")
    print(json.dumps(body))
    print(f"sqllab body ({out.parent / 'sqllab-execute.json'}):")
    print(json.dumps(sql_body))


if __name__ == "__main__":
    main()
