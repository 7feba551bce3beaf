"""A greeter written with the published StateFun Python SDK (3.3.0), served
with aiohttp as users serve it: counts the greetings of each name (state
"seen", an int), tells example/counter/<name> the count, greets again after
500 ms (a delayed message with a cancellation token) and sends the greeting
to the egress example/greetings.

    python greeter.py <port>
"""
import sys
from datetime import timedelta

from aiohttp import web
from statefun import (IntType, StatefulFunctions, StringType, ValueSpec,
                      RequestReplyHandler, egress_message_builder,
                      message_builder)

functions = StatefulFunctions()


@functions.bind(typename="example/greeter",
                specs=[ValueSpec(name="seen", type=IntType)])
async def greeter(context, message):
    name = message.as_string()
    seen = (context.storage.seen or 0) + 1
    context.storage.seen = seen
    context.send(message_builder(target_typename="example/counter",
                                 target_id=context.address.id, int_value=seen))
    context.send_after(timedelta(milliseconds=500),
                       message_builder(target_typename="example/greeter",
                                       target_id=context.address.id,
                                       str_value=name),
                       cancellation_token=f"again-{context.address.id}")
    context.send_egress(egress_message_builder(
        target_typename="example/greetings",
        value=f"Hello {name}, #{seen}", value_type=StringType))


handler = RequestReplyHandler(functions)


async def handle(request):
    reply = await handler.handle_async(await request.read())
    return web.Response(body=reply, content_type="application/octet-stream")


app = web.Application()
app.add_routes([web.post("/statefun", handle)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
