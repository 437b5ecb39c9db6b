# The simulator: SQLite in /app/var by default, PostgreSQL with SIM_DATABASE_URL.
# Python 3.11: the version CI tests. `pip install .` (not editable) carries the named fixture
# sets inside the package (tests/e2e/test_wheel.py serves from such an install).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SIM_HOST=0.0.0.0 \
    SIM_PORT=8000 \
    SIM_DATABASE_URL=sqlite:////app/var/simulator.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY simulator ./simulator
COPY fixtures ./fixtures
RUN pip install '.[postgres]' \
    && useradd --create-home --uid 10001 simulator \
    && mkdir -p /app/var && chown simulator:simulator /app/var

USER simulator
VOLUME ["/app/var"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/__admin/health', timeout=2).status == 200 else 1)"
CMD ["simulator", "serve"]
