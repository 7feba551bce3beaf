"""The greeter's functions with the StateFun Python SDK, served by aiohttp
on 127.0.0.1 at /statefun.

    python functions.py [port]     (the port: the argument, else $PORT, else 8000)

example/person counts a person's visits and asks example/greeter for the
greeting that fits the count, which goes to the playground egress's
"greetings" topic.
"""
import os
import sys

from aiohttp import web
from statefun import (IntType, RequestReplyHandler, StatefulFunctions, ValueSpec,
                      egress_message_builder, make_json_type, message_builder)

GreetRequest = make_json_type(typename="example/GreetRequest")
EgressRecord = make_json_type(typename="io.statefun.playground/EgressRecord")

functions = StatefulFunctions()


@functions.bind(typename="example/person", specs=[ValueSpec(name="visits", type=IntType)])
async def person(context, message):
    visits = (context.storage.visits or 0) + 1
    context.storage.visits = visits
    request = message.as_type(GreetRequest)
    context.send(message_builder(target_typename="example/greeter", target_id=request["name"],
                                 value={"name": request["name"], "visits": visits},
                                 value_type=GreetRequest))


@functions.bind(typename="example/greeter")
async def greeter(context, message):
    request = message.as_type(GreetRequest)
    record = {"topic": "greetings", "payload": greeting(request["name"], request["visits"])}
    context.send_egress(egress_message_builder(target_typename="io.statefun.playground/egress",
                                               value=record, value_type=EgressRecord))


def greeting(name, visits):
    if visits == 1:
        return f"Welcome {name}"
    if visits == 2:
        return f"Nice to see you again {name}"
    if visits == 3:
        return f"Third time is a charm {name}"
    return f"Nice to see you at the {visits}-nth time {name}!"


handler = RequestReplyHandler(functions)


async def serve(request):
    reply = await handler.handle_async(await request.read())
    return web.Response(body=reply, content_type="application/octet-stream")


app = web.Application()
app.add_routes([web.post("/statefun", serve)])

if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8000"))
    print(f"greeter functions (Python SDK) on http://127.0.0.1:{port}/statefun", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None)
