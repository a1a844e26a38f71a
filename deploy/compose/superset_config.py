# superset_config.py for the compose topology: two stateless replicas behind superset-ha sidecars,
# one PostgreSQL metadata database, Redis for caches and Celery, one SECRET_KEY for both replicas.
import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SQLALCHEMY_DATABASE_URI"]
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}

# Trust one level of X-Forwarded-* (the sidecar's).
ENABLE_PROXY_FIX = True

REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379")
CACHE_CONFIG = {"CACHE_TYPE": "RedisCache", "CACHE_DEFAULT_TIMEOUT": 300, "CACHE_KEY_PREFIX": "superset_", "CACHE_REDIS_URL": f"{REDIS_URL}/1"}
DATA_CACHE_CONFIG = CACHE_CONFIG


class CeleryConfig:
    broker_url = f"{REDIS_URL}/0"
    result_backend = f"{REDIS_URL}/0"


CELERY_CONFIG = CeleryConfig
