package weir.examples.shoppingcart;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.apache.flink.statefun.sdk.java.Address;
import org.apache.flink.statefun.sdk.java.Context;
import org.apache.flink.statefun.sdk.java.StatefulFunctionSpec;
import org.apache.flink.statefun.sdk.java.TypeName;
import org.apache.flink.statefun.sdk.java.ValueSpec;
import org.apache.flink.statefun.sdk.java.message.EgressMessageBuilder;
import org.apache.flink.statefun.sdk.java.message.Message;
import org.apache.flink.statefun.sdk.java.message.MessageBuilder;
import org.apache.flink.statefun.sdk.java.types.SimpleType;
import org.apache.flink.statefun.sdk.java.types.Type;

/**
 * The shopping cart.
 *
 * <p>com.example/stock/&lt;item&gt; keeps how many of the item are in stock: a RestockItem adds
 * to it, and a RequestItem from a cart takes the quantity if there is enough (INSTOCK) or leaves
 * the stock alone (OUTOFSTOCK); either way the cart is told with an ItemAvailability.
 *
 * <p>com.example/user-shopping-cart/&lt;user&gt; keeps the user's basket: AddToCart requests the
 * item from its stock, an INSTOCK answer puts it in the basket, Checkout sends a receipt to the
 * playground egress's "receipts" topic (the basket stays), and ClearCart returns everything in the
 * basket to stock and empties it.
 */
final class ShoppingCart {
  private ShoppingCart() {}

  private static final ObjectMapper JSON =
      new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  record RestockItem(String itemId, int quantity) {}

  record AddToCart(String userId, String itemId, int quantity) {}

  record Checkout(String userId) {}

  record ClearCart(String userId) {}

  record RequestItem(int quantity) {}

  /** status is INSTOCK or OUTOFSTOCK. */
  record ItemAvailability(String status, int quantity) {}

  record EgressRecord(String topic, String payload) {}

  /** A cart's items and their quantities, kept in item order. */
  static final class Basket extends TreeMap<String, Integer> {}

  static <T> Type<T> json(String typename, Class<T> cls) {
    return SimpleType.simpleImmutableTypeFrom(
        TypeName.typeNameFromString(typename),
        JSON::writeValueAsBytes,
        bytes -> JSON.readValue(bytes, cls));
  }

  static final Type<RestockItem> RESTOCK_ITEM = json("com.example/RestockItem", RestockItem.class);
  static final Type<AddToCart> ADD_TO_CART = json("com.example/AddToCart", AddToCart.class);
  static final Type<Checkout> CHECKOUT = json("com.example/Checkout", Checkout.class);
  static final Type<ClearCart> CLEAR_CART = json("com.example/ClearCart", ClearCart.class);
  static final Type<RequestItem> REQUEST_ITEM = json("com.example/RequestItem", RequestItem.class);
  static final Type<ItemAvailability> ITEM_AVAILABILITY =
      json("com.example/ItemAvailability", ItemAvailability.class);
  static final Type<Basket> BASKET_TYPE = json("com.example/Basket", Basket.class);
  static final Type<EgressRecord> EGRESS_RECORD =
      json("io.statefun.playground/EgressRecord", EgressRecord.class);

  static final TypeName STOCK = TypeName.typeNameFromString("com.example/stock");
  static final TypeName CART = TypeName.typeNameFromString("com.example/user-shopping-cart");
  static final TypeName EGRESS = TypeName.typeNameFromString("io.statefun.playground/egress");

  static final ValueSpec<Integer> STOCK_VALUE = ValueSpec.named("stock").withIntType();
  static final ValueSpec<Basket> BASKET = ValueSpec.named("basket").withCustomType(BASKET_TYPE);

  static final StatefulFunctionSpec STOCK_SPEC =
      StatefulFunctionSpec.builder(STOCK)
          .withValueSpec(STOCK_VALUE)
          .withSupplier(() -> ShoppingCart::stock)
          .build();

  static final StatefulFunctionSpec CART_SPEC =
      StatefulFunctionSpec.builder(CART)
          .withValueSpec(BASKET)
          .withSupplier(() -> ShoppingCart::userShoppingCart)
          .build();

  static CompletableFuture<Void> stock(Context context, Message message) {
    int available = context.storage().get(STOCK_VALUE).orElse(0);
    if (message.is(RESTOCK_ITEM)) {
      context.storage().set(STOCK_VALUE, available + message.as(RESTOCK_ITEM).quantity());
    } else if (message.is(REQUEST_ITEM)) {
      int wanted = message.as(REQUEST_ITEM).quantity();
      Address cart =
          context
              .caller()
              .orElseThrow(
                  () -> new IllegalStateException("a RequestItem comes from a cart, not an ingress"));
      String status = "OUTOFSTOCK";
      if (wanted <= available) {
        context.storage().set(STOCK_VALUE, available - wanted);
        status = "INSTOCK";
      }
      context.send(
          MessageBuilder.forAddress(cart)
              .withCustomType(ITEM_AVAILABILITY, new ItemAvailability(status, wanted))
              .build());
    }
    return context.done();
  }

  static CompletableFuture<Void> userShoppingCart(Context context, Message message) {
    Basket basket = context.storage().get(BASKET).orElseGet(Basket::new);
    if (message.is(ADD_TO_CART)) {
      AddToCart add = message.as(ADD_TO_CART);
      context.send(
          MessageBuilder.forAddress(STOCK, add.itemId())
              .withCustomType(REQUEST_ITEM, new RequestItem(add.quantity()))
              .build());
    } else if (message.is(ITEM_AVAILABILITY)) {
      ItemAvailability answer = message.as(ITEM_AVAILABILITY);
      String item =
          context
              .caller()
              .orElseThrow(
                  () -> new IllegalStateException("an ItemAvailability comes from a stock"))
              .id();
      if ("INSTOCK".equals(answer.status())) {
        basket.merge(item, answer.quantity(), Integer::sum);
        context.storage().set(BASKET, basket);
      }
    } else if (message.is(CLEAR_CART)) {
      for (Map.Entry<String, Integer> e : basket.entrySet()) {
        context.send(
            MessageBuilder.forAddress(STOCK, e.getKey())
                .withCustomType(RESTOCK_ITEM, new RestockItem(e.getKey(), e.getValue()))
                .build());
      }
      context.storage().remove(BASKET);
    } else if (message.is(CHECKOUT)) {
      context.send(
          EgressMessageBuilder.forEgress(EGRESS)
              .withCustomType(
                  EGRESS_RECORD, new EgressRecord("receipts", receipt(context.self().id(), basket)))
              .build());
    }
    return context.done();
  }

  /** "Receipt for user &lt;user&gt;: &lt;item&gt; x&lt;n&gt;, ..." in item order, or "(empty)". */
  static String receipt(String user, Basket basket) {
    String items =
        basket.entrySet().stream()
            .map(e -> e.getKey() + " x" + e.getValue())
            .collect(Collectors.joining(", "));
    return "Receipt for user " + user + ": " + (items.isEmpty() ? "(empty)" : items);
  }
}
