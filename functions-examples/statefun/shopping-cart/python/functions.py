"""The shopping cart's functions with the StateFun Python SDK, served by
aiohttp on 127.0.0.1 at /statefun.

    python functions.py [port]     (the port: the argument, else $PORT, else 8000)

com.example/stock/<item> keeps how many of the item are in stock: a
RestockItem adds to it, and a RequestItem from a cart takes the quantity
if there is enough (INSTOCK) or leaves the stock alone (OUTOFSTOCK); either
way the cart is told with an ItemAvailability.
com.example/user-shopping-cart/<user> keeps the user's basket: AddToCart
requests the item from its stock, an INSTOCK answer puts it in the
basket, Checkout sends a receipt to the playground egress's "receipts"
topic (the basket stays), and ClearCart returns everything in the basket
to stock and empties it.
"""
import os
import sys

from aiohttp import web
from statefun import (IntType, RequestReplyHandler, StatefulFunctions, ValueSpec,
                      egress_message_builder, make_json_type, message_builder)

RestockItem = make_json_type(typename="com.example/RestockItem")
AddToCart = make_json_type(typename="com.example/AddToCart")
Checkout = make_json_type(typename="com.example/Checkout")
ClearCart = make_json_type(typename="com.example/ClearCart")
RequestItem = make_json_type(typename="com.example/RequestItem")
ItemAvailability = make_json_type(typename="com.example/ItemAvailability")
Basket = make_json_type(typename="com.example/Basket")
EgressRecord = make_json_type(typename="io.statefun.playground/EgressRecord")

STOCK = "com.example/stock"
CART = "com.example/user-shopping-cart"

functions = StatefulFunctions()


@functions.bind(typename=STOCK, specs=[ValueSpec(name="stock", type=IntType)])
async def stock(context, message):
    available = context.storage.stock or 0
    if message.is_type(RestockItem):
        context.storage.stock = available + message.as_type(RestockItem)["quantity"]
    elif message.is_type(RequestItem):
        wanted = message.as_type(RequestItem)["quantity"]
        if wanted <= available:
            context.storage.stock = available - wanted
            status = "INSTOCK"
        else:
            status = "OUTOFSTOCK"
        context.send(message_builder(target_typename=context.caller.typename,
                                     target_id=context.caller.id,
                                     value={"status": status, "quantity": wanted},
                                     value_type=ItemAvailability))


@functions.bind(typename=CART, specs=[ValueSpec(name="basket", type=Basket)])
async def user_shopping_cart(context, message):
    if message.is_type(AddToCart):
        add = message.as_type(AddToCart)
        context.send(message_builder(target_typename=STOCK, target_id=add["itemId"],
                                     value={"quantity": add["quantity"]},
                                     value_type=RequestItem))
    elif message.is_type(ItemAvailability):
        answer = message.as_type(ItemAvailability)
        if answer["status"] == "INSTOCK":
            basket = context.storage.basket or {}
            item = context.caller.id
            basket[item] = basket.get(item, 0) + answer["quantity"]
            context.storage.basket = basket
    elif message.is_type(ClearCart):
        for item, quantity in (context.storage.basket or {}).items():
            context.send(message_builder(target_typename=STOCK, target_id=item,
                                         value={"itemId": item, "quantity": quantity},
                                         value_type=RestockItem))
        del context.storage.basket
    elif message.is_type(Checkout):
        record = {"topic": "receipts",
                  "payload": receipt(context.address.id, context.storage.basket or {})}
        context.send_egress(egress_message_builder(target_typename="io.statefun.playground/egress",
                                                   value=record, value_type=EgressRecord))


def receipt(user, basket):
    """'Receipt for user <user>: <item> x<n>, ...' with the items in order, or
    '... (empty)'."""
    items = ", ".join(f"{item} x{basket[item]}" for item in sorted(basket))
    return f"Receipt for user {user}: {items or '(empty)'}"


handler = RequestReplyHandler(functions)


async def serve(request):
    reply = await handler.handle_async(await request.read())
    return web.Response(body=reply, content_type="application/octet-stream")


app = web.Application()
app.add_routes([web.post("/statefun", serve)])

if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8000"))
    print(f"shopping-cart functions (Python SDK) on http://127.0.0.1:{port}/statefun", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None)
