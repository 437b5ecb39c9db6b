"""The bare-stack baseline: FastAPI + uvicorn returning the same bytes as /__admin/health."""

from fastapi import FastAPI
from starlette.responses import Response

app = FastAPI()
BODY = b'{"status":"ok"}'


@app.get("/health")
async def health() -> Response:
    return Response(BODY, media_type="application/json")


# A 342-byte body (the figure in docs/architecture.md, "Why handlers are `async def`") for
# comparisons with larger API answers.
@app.get("/body342")
async def body342() -> Response:
    return Response(b'{"x":"' + b"a" * 334 + b'"}', media_type="application/json")
