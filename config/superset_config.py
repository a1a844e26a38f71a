# Template of the superset_config.py that `scripts/superset.sh init` writes to
# $RUN_DIR/superset/superset_config.py (read by every replica through
# SUPERSET_CONFIG_PATH). The quoted "__SHA_...__" tokens are replaced with
# Python literals by the script; everything else is copied verbatim.
#
# Written for apache-superset 6.1.x (defaults checked in superset/config.py).
# Goals: several stateless replicas behind the superset-ha proxy, sharing one
# PostgreSQL metadata database and one SECRET_KEY; no Redis; nothing that
# reaches the internet from the server side.
from pathlib import Path

# --- shared by all replicas ---------------------------------------------------

# One key for every replica (kept in $RUN_DIR/superset/secret_key, mode 600):
# session cookies and CSRF tokens signed by one replica are valid on all, so
# the proxy needs no sticky sessions. It also encrypts the database passwords
# stored in the metadata DB, so it must never change once data exists.
SECRET_KEY = Path("__SHA_SECRET_KEY_FILE__").read_text(encoding="utf-8").strip()

SQLALCHEMY_DATABASE_URI = "__SHA_DATABASE_URI__"
# Superset's default is {} (no pre-ping): after a failover of the metadata DB,
# stale pooled connections would fail requests until replaced. connect_timeout
# bounds a connection attempt to a hung (e.g. SIGSTOPped) PostgreSQL; a query
# on an already open connection to a hung server still waits until gunicorn's
# worker timeout.
SQLALCHEMY_ENGINE_OPTIONS = {
    "pool_pre_ping": True,
    "connect_args": {"connect_timeout": 10},
}

# Local files (uploads, the default log file, ...), outside the package.
DATA_DIR = "__SHA_DATA_DIR__"
UPLOAD_FOLDER = DATA_DIR + "/uploads/"

# --- behind the superset-ha proxy ----------------------------------------------

# Trust one level of X-Forwarded-For/-Proto/-Host/-Port/-Prefix: the sidecar's.
# The sidecar replaces whatever a client sent in them with what it saw itself,
# unless the client is a proxy listed in its proxy.trustedProxies (the ingress),
# whose values it passes on. So with an ingress terminating TLS in front, list
# the ingress there, or Superset sees http and builds http:// redirects.
# X-Forwarded-For's last entry is the sidecar's peer (the ingress, if any); use
# PROXY_FIX_CONFIG x_for=2 for the client's address only if the sidecar's port
# is reachable through the ingress alone.
ENABLE_PROXY_FIX = True

# Seconds the frontend waits for a request; below gunicorn's --timeout (120),
# so a slow query surfaces as a timeout in the UI before the worker is killed.
SUPERSET_WEBSERVER_TIMEOUT = 60

# CSRF protection stays on (Superset's default). API clients either send the
# session cookie plus an X-CSRFToken header from GET /api/v1/security/csrf_token/,
# or only use CSRF-exempt endpoints (see WTF_CSRF_EXEMPT_LIST in superset/config.py).
WTF_CSRF_ENABLED = True

# Flask-Limiter keeps its counters per process; say so explicitly (silences the
# "in-memory storage" warning at start). Application-wide rate limiting is off
# unless SUPERSET_ENV=production; login attempts are still limited
# (AUTH_RATE_LIMIT, 5 per second per worker process).
RATELIMIT_STORAGE_URI = "memory://"

# --- no Redis: caches are off or in the metadata DB ------------------------------

CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
THUMBNAIL_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# FILTER_STATE_CACHE_CONFIG and EXPLORE_FORM_DATA_CACHE_CONFIG keep their
# default, SupersetMetastoreCache: stored in the (shared) metadata DB, so every
# replica sees the same state.
# No results backend: SQL Lab runs queries synchronously (runAsync: false).
RESULTS_BACKEND = None

# Minimal: everything at Superset's defaults; the ones that would need Redis,
# Celery or a headless browser stay off explicitly.
FEATURE_FLAGS = {
    "GLOBAL_ASYNC_QUERIES": False,
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
}

# --- nothing from the internet ---------------------------------------------------

# Superset itself fetches nothing at start and we load no examples. The
# frontend embeds a telemetry pixel (apachesuperset.gateway.scarf.sh) and map
# tiles are fetched by the browser: the CSP below (Superset's default minus
# the telemetry and map-tile hosts) tells browsers not to load them.
MAPBOX_API_KEY = ""
# 6.1 enables CORS by default for the OpenStreetMap tile hosts (every answer,
# /health included, carries "Access-Control-Allow-Origin: https://tile.openstreetmap.org");
# nothing here is cross-origin.
ENABLE_CORS = False
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
