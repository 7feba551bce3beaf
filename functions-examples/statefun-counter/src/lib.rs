//! The Stateful Functions benchmark function, `bench/counter`, as a Weir
//! component (`counter.py` beside this crate is the same function written
//! with the published Python SDK).
//!
//! Each message is an `io.statefun.types/long` amount. The address keeps
//! `n` (an int: messages seen) and `total` (a long: their sum), and for each
//! message egresses to `bench/totals` a `bench/Json` value whose bytes are
//! the compact JSON `{"id":"<address id>","n":<n>,"total":<total>}`. A
//! negative amount is refused with an error (which fails its batch).

use serde::Serialize;
use weir_sdk::statefun::{Context, Message, StatefulFunction, TypedValue, ValueSpec, types};
use weir_sdk::{Error, Result};

/// The egress record; fields serialize in this order.
#[derive(Serialize)]
struct Totals<'a> {
    id: &'a str,
    n: i32,
    total: i64,
}

/// Counts the amounts sent to each address and sums them.
#[derive(Default)]
pub struct Counter;

impl StatefulFunction for Counter {
    fn states() -> Vec<ValueSpec> {
        vec![
            ValueSpec::new("n", types::INT),
            ValueSpec::new("total", types::LONG),
        ]
    }

    fn invoke(&mut self, ctx: &mut Context, message: Message) -> Result<()> {
        let amount = message.as_long()?;
        if amount < 0 {
            // The batch fails: the host retries it or dead-letters it.
            return Err(Error::msg(format!("negative amount {amount}")));
        }
        let n = ctx
            .get::<i32>("n")?
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| Error::msg("n overflows an int"))?;
        let total = ctx
            .get::<i64>("total")?
            .unwrap_or(0)
            .checked_add(amount)
            .ok_or_else(|| Error::msg("total overflows a long"))?;
        ctx.set("n", &n)?;
        ctx.set("total", &total)?;
        let record = Totals {
            id: ctx.address().id(),
            n,
            total,
        };
        let value = TypedValue::json("bench/Json", &record)?;
        ctx.egress("bench/totals", value);
        Ok(())
    }
}

weir_sdk::export_stateful_functions!("bench/counter" => Counter);
