// The greeter's functions with the StateFun JavaScript SDK, served by
// Node's http module on 127.0.0.1.
//
//   node functions.js [port]     (the port: the argument, else $PORT, else 8000)
//
// example/person counts a person's visits and asks example/greeter for the
// greeting that fits the count, which goes to the playground egress's
// "greetings" topic.
"use strict";

const http = require("http");
const { StateFun, messageBuilder, egressMessageBuilder } = require("apache-flink-statefun");

const GreetRequest = StateFun.jsonType("example/GreetRequest");
const EgressRecord = StateFun.jsonType("io.statefun.playground/EgressRecord");

function greeting(name, visits) {
  switch (visits) {
    case 1:
      return `Welcome ${name}`;
    case 2:
      return `Nice to see you again ${name}`;
    case 3:
      return `Third time is a charm ${name}`;
    default:
      return `Nice to see you at the ${visits}-nth time ${name}!`;
  }
}

const statefun = new StateFun();

statefun.bind({
  typename: "example/person",
  specs: [{ name: "visits", type: StateFun.intType() }],
  fn(context, message) {
    const visits = (context.storage.visits || 0) + 1;
    context.storage.visits = visits;
    const request = message.as(GreetRequest);
    context.send(
      messageBuilder({
        typename: "example/greeter",
        id: request.name,
        value: { name: request.name, visits },
        valueType: GreetRequest,
      }),
    );
  },
});

statefun.bind({
  typename: "example/greeter",
  fn(context, message) {
    const { name, visits } = message.as(GreetRequest);
    context.send(
      egressMessageBuilder({
        typename: "io.statefun.playground/egress",
        value: { topic: "greetings", payload: greeting(name, visits) },
        valueType: EgressRecord,
      }),
    );
  },
});

const port = Number(process.argv[2] || process.env.PORT || 8000);
http.createServer(statefun.handler()).listen(port, "127.0.0.1", () => {
  console.log(`greeter functions (JavaScript SDK) on http://127.0.0.1:${port}/statefun`);
});
