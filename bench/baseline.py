"""The bare-stack baseline: FastAPI + uvicorn returning the same bytes as /__admin/health."""

from fastapi import FastAPI
from starlette.responses import Response

app = FastAPI()
BODY = b'{"status":"ok"}'


@app.get("/health")
async def health() -> Response:
    return Response(BODY, media_type="application/json")


# The same as a 342-byte body (DESIGN §4.5 figure) for comparisons with larger API answers.
@app.get("/body342")
async def body342() -> Response:
    return Response(b'{"x":"' + b"a" * 334 + b'"}', media_type="application/json")
