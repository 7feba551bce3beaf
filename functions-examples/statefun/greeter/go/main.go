// The greeter's functions with the StateFun Go SDK, served by net/http on
// 127.0.0.1 at /statefun.
//
//	go run . [port]      (the port: the argument, else $PORT, else 8000)
//
// example/person counts a person's visits and asks example/greeter for the
// greeting that fits the count, which goes to the playground egress's
// "greetings" topic.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"
)

// GreetRequest is {"name": ...} from the ingress; the person adds "visits".
type GreetRequest struct {
	Name   string `json:"name"`
	Visits int32  `json:"visits"`
}

// EgressRecord is what the playground egress takes.
type EgressRecord struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
}

var (
	personType   = statefun.TypeNameFrom("example/person")
	greeterType  = statefun.TypeNameFrom("example/greeter")
	egress       = statefun.TypeNameFrom("io.statefun.playground/egress")
	greetRequest = statefun.MakeJsonType(statefun.TypeNameFrom("example/GreetRequest"))
	egressRecord = statefun.MakeJsonType(statefun.TypeNameFrom("io.statefun.playground/EgressRecord"))
	visitsSpec   = statefun.ValueSpec{Name: "visits", ValueType: statefun.Int32Type}
)

func person(ctx statefun.Context, message statefun.Message) error {
	var visits int32
	ctx.Storage().Get(visitsSpec, &visits)
	visits++
	ctx.Storage().Set(visitsSpec, visits)

	var request GreetRequest
	if err := message.As(greetRequest, &request); err != nil {
		return fmt.Errorf("a GreetRequest was expected: %w", err)
	}
	request.Visits = visits
	ctx.Send(statefun.MessageBuilder{
		Target:    statefun.Address{FunctionType: greeterType, Id: request.Name},
		Value:     request,
		ValueType: greetRequest,
	})
	return nil
}

func greeter(ctx statefun.Context, message statefun.Message) error {
	var request GreetRequest
	if err := message.As(greetRequest, &request); err != nil {
		return fmt.Errorf("a GreetRequest was expected: %w", err)
	}
	ctx.SendEgress(statefun.GenericEgressBuilder{
		Target:    egress,
		Value:     EgressRecord{Topic: "greetings", Payload: greeting(request.Name, request.Visits)},
		ValueType: egressRecord,
	})
	return nil
}

func greeting(name string, visits int32) string {
	switch visits {
	case 1:
		return "Welcome " + name
	case 2:
		return "Nice to see you again " + name
	case 3:
		return "Third time is a charm " + name
	default:
		return fmt.Sprintf("Nice to see you at the %d-nth time %s!", visits, name)
	}
}

func main() {
	port := os.Getenv("PORT")
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	if port == "" {
		port = "8000"
	}

	builder := statefun.StatefulFunctionsBuilder()
	if err := builder.WithSpec(statefun.StatefulFunctionSpec{
		FunctionType: personType,
		States:       []statefun.ValueSpec{visitsSpec},
		Function:     statefun.StatefulFunctionPointer(person),
	}); err != nil {
		log.Fatal(err)
	}
	if err := builder.WithSpec(statefun.StatefulFunctionSpec{
		FunctionType: greeterType,
		Function:     statefun.StatefulFunctionPointer(greeter),
	}); err != nil {
		log.Fatal(err)
	}

	http.Handle("/statefun", builder.AsHandler())
	addr := "127.0.0.1:" + port
	log.Printf("greeter functions (Go SDK) on http://%s/statefun", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
