"""The bare-stack baseline: FastAPI + uvicorn returning the same bytes as /__admin/health, or
the same answer as a read of the simulator (`PUT /bodies/{name}` keeps it, `GET` answers it)."""

from fastapi import FastAPI, Request
from starlette.responses import Response

app = FastAPI()
BODY = b'{"status":"ok"}'
# name -> (status, content type, body) of an answer the simulator gave (bench/load.same_answer).
ANSWERS: dict[str, tuple[int, str, bytes]] = {}


@app.get("/health")
async def health() -> Response:
    return Response(BODY, media_type="application/json")


# A 342-byte body (the figure in docs/architecture.md, "Why handlers are `async def`") for
# comparisons with larger API answers.
@app.get("/body342")
async def body342() -> Response:
    return Response(b'{"x":"' + b"a" * 334 + b'"}', media_type="application/json")


@app.put("/bodies/{name}")
async def keep_answer(name: str, request: Request) -> Response:
    status = int(request.headers.get("x-status", "200"))
    media_type = request.headers.get("content-type", "application/octet-stream")
    ANSWERS[name] = (status, media_type, await request.body())
    return Response(status_code=204)


@app.get("/bodies/{name}")
async def same_answer(name: str) -> Response:
    status, media_type, body = ANSWERS[name]
    return Response(body, status, media_type=media_type)
