"""A StateFun app written with the published Python SDK (3.3.0), served
with aiohttp as users serve it. Unchanged behind `weir run module.yaml`.

example/user/<u> (states "count", an int, and "total", a long) takes
amounts from the ingress. For each it
  - sends the amount to example/region/<n mod 5> (a function message),
  - egresses {"user", "count", "total"} to example/out,
  - every 10th amount, sends itself a reminder 300 ms later (delayed),
  - on odd counts sends itself a "late" message 60 s later with the token
    "late-<u>", which the next (even) count cancels.
example/region/<r> (states "n", an int, and "sum", a long) adds the amount
and egresses {"region", "n", "sum"}.

    python ledger.py <port>

Three environment variables, for the failover test, change nothing the
host must handle differently: LEDGER_REGION_SLEEP_MS makes each region
invocation take that long (an asyncio sleep, so that the job runs long
enough to be killed mid way), LEDGER_REMINDER_MS replaces the reminders'
300 ms delay (longer than a checkpoint interval, a reminder is surely
pending in a checkpoint when a kill follows it), and LEDGER_LOG names a file that gets a line per reminder scheduled
("schedule <user> <count> <unix ms>") and per reminder received
("remind <user> <count> <unix ms>"), every attempt (calls are
at-least-once).
"""
import asyncio
import json
import os
import sys
import time
from datetime import timedelta

from aiohttp import web
from statefun import (IntType, LongType, RequestReplyHandler,
                      StatefulFunctions, ValueSpec, egress_message_builder,
                      message_builder, simple_type)

Json = simple_type(typename="example/Json", serialize_fn=lambda d: json.dumps(d, sort_keys=True).encode(),
                   deserialize_fn=lambda b: json.loads(b))

functions = StatefulFunctions()

REGION_SLEEP = float(os.environ.get("LEDGER_REGION_SLEEP_MS", "0")) / 1000
REMINDER_MS = int(os.environ.get("LEDGER_REMINDER_MS", "300"))
LOG = open(os.environ["LEDGER_LOG"], "a", buffering=1) if os.environ.get("LEDGER_LOG") else None


def log(event, user, count):
    if LOG is not None:
        LOG.write(f"{event} {user} {count} {int(time.time() * 1000)}\n")


def out(context, value):
    context.send_egress(egress_message_builder(target_typename="example/out",
                                               value=value, value_type=Json))


@functions.bind(typename="example/user",
                specs=[ValueSpec(name="count", type=IntType),
                       ValueSpec(name="total", type=LongType)])
async def user(context, message):
    me = context.address.id
    if message.is_type(Json):
        note = message.as_type(Json)
        if "reminder" in note:
            log("remind", me, note["reminder"])
        out(context, {"user": me, **note})
        return
    amount = message.as_long()
    count = (context.storage.count or 0) + 1
    total = (context.storage.total or 0) + amount
    context.storage.count = count
    context.storage.total = total
    region = str(int(me[1:]) % 5)
    context.send(message_builder(target_typename="example/region",
                                 target_id=region, long_value=amount))
    out(context, {"user": me, "count": count, "total": total})
    if count % 10 == 0:
        log("schedule", me, count)
        context.send_after(timedelta(milliseconds=REMINDER_MS),
                           message_builder(target_typename="example/user", target_id=me,
                                           value={"reminder": count}, value_type=Json))
    if count % 2 == 1:
        context.send_after(timedelta(seconds=60),
                           message_builder(target_typename="example/user", target_id=me,
                                           value={"late": count}, value_type=Json),
                           cancellation_token=f"late-{me}")
    else:
        context.cancel_delayed_message(f"late-{me}")


@functions.bind(typename="example/region",
                specs=[ValueSpec(name="n", type=IntType),
                       ValueSpec(name="sum", type=LongType)])
async def region(context, message):
    if REGION_SLEEP:
        await asyncio.sleep(REGION_SLEEP)
    n = (context.storage.n or 0) + 1
    s = (context.storage.sum or 0) + message.as_long()
    context.storage.n = n
    context.storage.sum = s
    out(context, {"region": context.address.id, "n": n, "sum": s})


handler = RequestReplyHandler(functions)


async def handle(request):
    reply = await handler.handle_async(await request.read())
    return web.Response(body=reply, content_type="application/octet-stream")


app = web.Application()
app.add_routes([web.post("/statefun", handle)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
