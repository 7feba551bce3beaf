// The shopping cart's functions with the StateFun JavaScript SDK, served by
// Node's http module on 127.0.0.1.
//
//   node functions.js [port]     (the port: the argument, else $PORT, else 8000)
//
// com.example/stock/<item> keeps how many of the item are in stock: a
// RestockItem adds to it, and a RequestItem from a cart takes the quantity
// if there is enough (INSTOCK) or leaves the stock alone (OUTOFSTOCK);
// either way the cart is told with an ItemAvailability.
// com.example/user-shopping-cart/<user> keeps the user's basket: AddToCart
// requests the item from its stock, an INSTOCK answer puts it in the
// basket, Checkout sends a receipt to the playground egress's "receipts"
// topic (the basket stays), and ClearCart returns everything in the basket
// to stock and empties it.
"use strict";

const http = require("http");
const { StateFun, messageBuilder, egressMessageBuilder } = require("apache-flink-statefun");

const RestockItem = StateFun.jsonType("com.example/RestockItem");
const AddToCart = StateFun.jsonType("com.example/AddToCart");
const Checkout = StateFun.jsonType("com.example/Checkout");
const ClearCart = StateFun.jsonType("com.example/ClearCart");
const RequestItem = StateFun.jsonType("com.example/RequestItem");
const ItemAvailability = StateFun.jsonType("com.example/ItemAvailability");
const Basket = StateFun.jsonType("com.example/Basket");
const EgressRecord = StateFun.jsonType("io.statefun.playground/EgressRecord");

const STOCK = "com.example/stock";
const CART = "com.example/user-shopping-cart";

// "Receipt for user <user>: <item> x<n>, ..." with the items in order, or "... (empty)".
function receipt(user, basket) {
  const items = Object.keys(basket)
    .sort()
    .map((item) => `${item} x${basket[item]}`)
    .join(", ");
  return `Receipt for user ${user}: ${items || "(empty)"}`;
}

const statefun = new StateFun();

statefun.bind({
  typename: STOCK,
  specs: [{ name: "stock", type: StateFun.intType() }],
  fn(context, message) {
    const available = context.storage.stock || 0;
    if (message.is(RestockItem)) {
      context.storage.stock = available + message.as(RestockItem).quantity;
    } else if (message.is(RequestItem)) {
      const wanted = message.as(RequestItem).quantity;
      let status = "OUTOFSTOCK";
      if (wanted <= available) {
        context.storage.stock = available - wanted;
        status = "INSTOCK";
      }
      context.send(
        messageBuilder({
          typename: context.caller.typename,
          id: context.caller.id,
          value: { status, quantity: wanted },
          valueType: ItemAvailability,
        }),
      );
    }
  },
});

statefun.bind({
  typename: CART,
  specs: [{ name: "basket", type: Basket }],
  fn(context, message) {
    if (message.is(AddToCart)) {
      const add = message.as(AddToCart);
      context.send(
        messageBuilder({
          typename: STOCK,
          id: add.itemId,
          value: { quantity: add.quantity },
          valueType: RequestItem,
        }),
      );
    } else if (message.is(ItemAvailability)) {
      const answer = message.as(ItemAvailability);
      if (answer.status === "INSTOCK") {
        const basket = context.storage.basket || {};
        const item = context.caller.id;
        basket[item] = (basket[item] || 0) + answer.quantity;
        context.storage.basket = basket;
      }
    } else if (message.is(ClearCart)) {
      const basket = context.storage.basket || {};
      for (const [item, quantity] of Object.entries(basket)) {
        context.send(
          messageBuilder({
            typename: STOCK,
            id: item,
            value: { itemId: item, quantity },
            valueType: RestockItem,
          }),
        );
      }
      context.storage.basket = null;
    } else if (message.is(Checkout)) {
      const basket = context.storage.basket || {};
      context.send(
        egressMessageBuilder({
          typename: "io.statefun.playground/egress",
          value: { topic: "receipts", payload: receipt(context.self.id, basket) },
          valueType: EgressRecord,
        }),
      );
    }
  },
});

const port = Number(process.argv[2] || process.env.PORT || 8000);
http.createServer(statefun.handler()).listen(port, "127.0.0.1", () => {
  console.log(`shopping-cart functions (JavaScript SDK) on http://127.0.0.1:${port}/statefun`);
});
