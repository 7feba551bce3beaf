// The shopping cart's functions with the StateFun Go SDK, served by
// net/http on 127.0.0.1 at /statefun.
//
//	go run . [port]      (the port: the argument, else $PORT, else 8000)
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
package main

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"
)

type RestockItem struct {
	ItemID   string `json:"itemId"`
	Quantity int32  `json:"quantity"`
}

type AddToCart struct {
	UserID   string `json:"userId"`
	ItemID   string `json:"itemId"`
	Quantity int32  `json:"quantity"`
}

type RequestItem struct {
	Quantity int32 `json:"quantity"`
}

type ItemAvailability struct {
	Status   string `json:"status"` // INSTOCK or OUTOFSTOCK
	Quantity int32  `json:"quantity"`
}

// Basket is a cart's items and their quantities.
type Basket map[string]int32

type EgressRecord struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
}

func jsonType(typename string) statefun.SimpleType {
	return statefun.MakeJsonType(statefun.TypeNameFrom(typename))
}

var (
	stockType = statefun.TypeNameFrom("com.example/stock")
	cartType  = statefun.TypeNameFrom("com.example/user-shopping-cart")
	egress    = statefun.TypeNameFrom("io.statefun.playground/egress")

	restockItemType      = jsonType("com.example/RestockItem")
	addToCartType        = jsonType("com.example/AddToCart")
	checkoutType         = jsonType("com.example/Checkout")
	clearCartType        = jsonType("com.example/ClearCart")
	requestItemType      = jsonType("com.example/RequestItem")
	itemAvailabilityType = jsonType("com.example/ItemAvailability")
	egressRecordType     = jsonType("io.statefun.playground/EgressRecord")

	stockSpec  = statefun.ValueSpec{Name: "stock", ValueType: statefun.Int32Type}
	basketSpec = statefun.ValueSpec{Name: "basket", ValueType: jsonType("com.example/Basket")}
)

func stock(ctx statefun.Context, message statefun.Message) error {
	var available int32
	ctx.Storage().Get(stockSpec, &available)
	switch {
	case message.Is(restockItemType):
		var restock RestockItem
		if err := message.As(restockItemType, &restock); err != nil {
			return err
		}
		ctx.Storage().Set(stockSpec, available+restock.Quantity)
	case message.Is(requestItemType):
		var request RequestItem
		if err := message.As(requestItemType, &request); err != nil {
			return err
		}
		caller := ctx.Caller()
		if caller == nil {
			return errors.New("a RequestItem comes from a cart, not from an ingress")
		}
		answer := ItemAvailability{Status: "OUTOFSTOCK", Quantity: request.Quantity}
		if request.Quantity <= available {
			ctx.Storage().Set(stockSpec, available-request.Quantity)
			answer.Status = "INSTOCK"
		}
		ctx.Send(statefun.MessageBuilder{Target: *caller, Value: answer, ValueType: itemAvailabilityType})
	}
	return nil
}

func userShoppingCart(ctx statefun.Context, message statefun.Message) error {
	basket := Basket{}
	ctx.Storage().Get(basketSpec, &basket)
	switch {
	case message.Is(addToCartType):
		var add AddToCart
		if err := message.As(addToCartType, &add); err != nil {
			return err
		}
		ctx.Send(statefun.MessageBuilder{
			Target:    statefun.Address{FunctionType: stockType, Id: add.ItemID},
			Value:     RequestItem{Quantity: add.Quantity},
			ValueType: requestItemType,
		})
	case message.Is(itemAvailabilityType):
		var answer ItemAvailability
		if err := message.As(itemAvailabilityType, &answer); err != nil {
			return err
		}
		caller := ctx.Caller()
		if caller == nil {
			return errors.New("an ItemAvailability comes from a stock, not from an ingress")
		}
		if answer.Status == "INSTOCK" {
			basket[caller.Id] += answer.Quantity
			ctx.Storage().Set(basketSpec, basket)
		}
	case message.Is(clearCartType):
		for item, quantity := range basket {
			ctx.Send(statefun.MessageBuilder{
				Target:    statefun.Address{FunctionType: stockType, Id: item},
				Value:     RestockItem{ItemID: item, Quantity: quantity},
				ValueType: restockItemType,
			})
		}
		ctx.Storage().Remove(basketSpec)
	case message.Is(checkoutType):
		ctx.SendEgress(statefun.GenericEgressBuilder{
			Target:    egress,
			Value:     EgressRecord{Topic: "receipts", Payload: receipt(ctx.Self().Id, basket)},
			ValueType: egressRecordType,
		})
	}
	return nil
}

// receipt is "Receipt for user <user>: <item> x<n>, ..." with the items in
// order, or "... (empty)".
func receipt(user string, basket Basket) string {
	items := make([]string, 0, len(basket))
	for item := range basket {
		items = append(items, item)
	}
	sort.Strings(items)
	for i, item := range items {
		items[i] = fmt.Sprintf("%s x%d", item, basket[item])
	}
	if len(items) == 0 {
		return "Receipt for user " + user + ": (empty)"
	}
	return "Receipt for user " + user + ": " + strings.Join(items, ", ")
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
	for _, spec := range []statefun.StatefulFunctionSpec{
		{FunctionType: stockType, States: []statefun.ValueSpec{stockSpec}, Function: statefun.StatefulFunctionPointer(stock)},
		{FunctionType: cartType, States: []statefun.ValueSpec{basketSpec}, Function: statefun.StatefulFunctionPointer(userShoppingCart)},
	} {
		if err := builder.WithSpec(spec); err != nil {
			log.Fatal(err)
		}
	}

	http.Handle("/statefun", builder.AsHandler())
	addr := "127.0.0.1:" + port
	log.Printf("shopping-cart functions (Go SDK) on http://%s/statefun", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
