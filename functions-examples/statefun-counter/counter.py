"""The Stateful Functions benchmark function bench/counter, written with the
published Python SDK (apache-flink-statefun 3.3.0) and served with aiohttp
as users serve it: the same function as this crate's src/lib.rs.

Each message is an io.statefun.types/long amount. The address keeps "n"
(an int: messages seen) and "total" (a long: their sum), and for each
message egresses to bench/totals a bench/Json value whose bytes are the
compact JSON {"id":"<address id>","n":<n>,"total":<total>}, byte for byte
what the Rust function sends. A negative amount is refused (an error).

    python counter.py <port>      (serves POST http://127.0.0.1:<port>/statefun)
"""
import json
import sys

from aiohttp import web
from statefun import (IntType, LongType, RequestReplyHandler,
                      StatefulFunctions, ValueSpec, egress_message_builder,
                      simple_type)

# Keys in insertion order, no spaces, non-ASCII as UTF-8: serde_json's output.
Json = simple_type(typename="bench/Json",
                   serialize_fn=lambda d: json.dumps(d, separators=(",", ":"),
                                                     ensure_ascii=False).encode(),
                   deserialize_fn=lambda b: json.loads(b))

functions = StatefulFunctions()


@functions.bind(typename="bench/counter",
                specs=[ValueSpec(name="n", type=IntType),
                       ValueSpec(name="total", type=LongType)])
def counter(context, message):
    amount = message.as_long()
    if amount < 0:
        raise ValueError(f"negative amount {amount}")
    n = (context.storage.n or 0) + 1
    total = (context.storage.total or 0) + amount
    context.storage.n = n
    context.storage.total = total
    context.send_egress(egress_message_builder(
        target_typename="bench/totals",
        value={"id": context.address.id, "n": n, "total": total},
        value_type=Json))


handler = RequestReplyHandler(functions)


async def handle(request):
    reply = await handler.handle_async(await request.read())
    return web.Response(body=reply, content_type="application/octet-stream")


app = web.Application()
app.add_routes([web.post("/statefun", handle)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
