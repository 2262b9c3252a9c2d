"""Stream newsqa's answers from an async web app: ``uvicorn examples.stream_fastapi:app``,
then ``curl -N 'http://127.0.0.1:8000/answer?q=Who+was+killed+in+Oaxaca%3F'``.

The draft streams as plain text while the model writes it; the checked answer follows
as one JSON line (citations with quotes and offsets, ``refused``, ``confidence``).
"""

import json
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from assistant import Answer, build_chain

app = FastAPI()
chain = build_chain()


@app.get("/answer")
async def answer(q: str) -> StreamingResponse:
    async def parts() -> AsyncIterator[str]:
        async for part in chain.astream(q):  # the event loop keeps serving meanwhile
            if isinstance(part, Answer):
                yield "\n" + json.dumps(part.to_json()) + "\n"
            else:
                yield part

    return StreamingResponse(parts(), media_type="text/plain; charset=utf-8")
