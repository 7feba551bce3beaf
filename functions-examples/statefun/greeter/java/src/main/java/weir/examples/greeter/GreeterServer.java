package weir.examples.greeter;

import io.undertow.Undertow;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import io.undertow.util.SameThreadExecutor;
import java.nio.ByteBuffer;
import org.apache.flink.statefun.sdk.java.StatefulFunctions;
import org.apache.flink.statefun.sdk.java.handler.RequestReplyHandler;
import org.apache.flink.statefun.sdk.java.slice.Slice;
import org.apache.flink.statefun.sdk.java.slice.Slices;

/**
 * Serves the greeter's functions with Undertow on 127.0.0.1.
 *
 * <pre>java -jar greeter.jar [port]</pre>
 *
 * The port is the first argument, else $PORT, else 8000. Every request path reaches the
 * functions; the module's URL uses /statefun.
 */
public final class GreeterServer {
  private GreeterServer() {}

  public static void main(String[] args) {
    int port = port(args);
    StatefulFunctions functions = new StatefulFunctions();
    functions.withStatefulFunction(Greeter.PERSON_SPEC);
    functions.withStatefulFunction(Greeter.GREETER_SPEC);
    Undertow.builder()
        .addHttpListener(port, "127.0.0.1")
        .setHandler(new StateFunHandler(functions.requestReplyHandler()))
        .build()
        .start();
    System.out.println("greeter functions (Java SDK) on http://127.0.0.1:" + port + "/statefun");
  }

  static int port(String[] args) {
    String p = args.length > 0 ? args[0] : System.getenv().getOrDefault("PORT", "8000");
    try {
      return Integer.parseInt(p);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("the port must be a number, not '" + p + "'", e);
    }
  }

  /** Hands each request body to the SDK and answers with its reply. */
  static final class StateFunHandler implements HttpHandler {
    private final RequestReplyHandler functions;

    StateFunHandler(RequestReplyHandler functions) {
      this.functions = functions;
    }

    @Override
    public void handleRequest(HttpServerExchange exchange) {
      exchange
          .getRequestReceiver()
          .receiveFullBytes(
              (ex, body) ->
                  ex.dispatch(
                      SameThreadExecutor.INSTANCE,
                      () ->
                          functions
                              .handle(Slices.wrap(body))
                              .whenComplete((reply, error) -> respond(ex, reply, error))));
    }

    private static void respond(HttpServerExchange exchange, Slice reply, Throwable error) {
      if (error != null) {
        error.printStackTrace();
        exchange.setStatusCode(500);
        exchange.endExchange();
        return;
      }
      exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/octet-stream");
      exchange.getResponseSender().send(ByteBuffer.wrap(reply.toByteArray()));
    }
  }
}
