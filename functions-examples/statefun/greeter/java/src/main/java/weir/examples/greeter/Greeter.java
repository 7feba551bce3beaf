package weir.examples.greeter;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.concurrent.CompletableFuture;
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
 * The greeter: example/person counts a person's visits and asks example/greeter for the
 * greeting that fits the count, which goes to the playground egress's "greetings" topic.
 */
final class Greeter {
  private Greeter() {}

  private static final ObjectMapper JSON =
      new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  /** {"name": ...} from the ingress; the person adds "visits" before passing it on. */
  record GreetRequest(String name, int visits) {}

  /** What the playground egress takes: a topic and a UTF-8 payload. */
  record EgressRecord(String topic, String payload) {}

  static <T> Type<T> json(String typename, Class<T> cls) {
    return SimpleType.simpleImmutableTypeFrom(
        TypeName.typeNameFromString(typename),
        JSON::writeValueAsBytes,
        bytes -> JSON.readValue(bytes, cls));
  }

  static final Type<GreetRequest> GREET_REQUEST = json("example/GreetRequest", GreetRequest.class);
  static final Type<EgressRecord> EGRESS_RECORD =
      json("io.statefun.playground/EgressRecord", EgressRecord.class);

  static final TypeName PERSON = TypeName.typeNameFromString("example/person");
  static final TypeName GREETER = TypeName.typeNameFromString("example/greeter");
  static final TypeName EGRESS = TypeName.typeNameFromString("io.statefun.playground/egress");

  static final ValueSpec<Integer> VISITS = ValueSpec.named("visits").withIntType();

  static final StatefulFunctionSpec PERSON_SPEC =
      StatefulFunctionSpec.builder(PERSON)
          .withValueSpec(VISITS)
          .withSupplier(() -> Greeter::person)
          .build();

  static final StatefulFunctionSpec GREETER_SPEC =
      StatefulFunctionSpec.builder(GREETER).withSupplier(() -> Greeter::greeter).build();

  static CompletableFuture<Void> person(Context context, Message message) {
    int visits = context.storage().get(VISITS).orElse(0) + 1;
    context.storage().set(VISITS, visits);
    GreetRequest request = message.as(GREET_REQUEST);
    context.send(
        MessageBuilder.forAddress(GREETER, request.name())
            .withCustomType(GREET_REQUEST, new GreetRequest(request.name(), visits))
            .build());
    return context.done();
  }

  static CompletableFuture<Void> greeter(Context context, Message message) {
    GreetRequest request = message.as(GREET_REQUEST);
    String greeting = greeting(request.name(), request.visits());
    context.send(
        EgressMessageBuilder.forEgress(EGRESS)
            .withCustomType(EGRESS_RECORD, new EgressRecord("greetings", greeting))
            .build());
    return context.done();
  }

  static String greeting(String name, int visits) {
    switch (visits) {
      case 1:
        return "Welcome " + name;
      case 2:
        return "Nice to see you again " + name;
      case 3:
        return "Third time is a charm " + name;
      default:
        return "Nice to see you at the " + visits + "-nth time " + name + "!";
    }
  }
}
