//! Batch semantics, over plain values (no WIT).

use super::context::{Delayed, Effects};
use super::rt::{Batch, BatchResult, Dispatcher, Entry, run_batch};
use super::*;
use crate::{Error, Result};
use std::time::Duration;

/// n and total as in the benchmark; a negative amount is an error; the
/// message "clear" removes n; "bad-type" reads n as a long.
#[derive(Default)]
struct Counter {
    invocations: u32,
}

impl StatefulFunction for Counter {
    fn states() -> Vec<ValueSpec> {
        vec![
            ValueSpec::new("n", types::INT),
            ValueSpec::new("total", types::LONG).expire_after_write(Duration::from_secs(60)),
            ValueSpec::new("untouched", types::STRING),
        ]
    }

    fn invoke(&mut self, ctx: &mut Context, message: Message) -> Result<()> {
        self.invocations += 1;
        if message.is_type(types::STRING) {
            return match message.as_string()?.as_str() {
                "clear" => ctx.remove("n"),
                "bad-type" => ctx.get::<i64>("n").map(drop),
                "undeclared" => ctx.set("nope", &1i32),
                other => Err(Error::msg(format!("unknown command {other}"))),
            };
        }
        let amount = message.as_long()?;
        if amount < 0 {
            return Err(Error::msg("negative amount"));
        }
        let n = ctx.get::<i32>("n")?.unwrap_or(0) + 1;
        let total = ctx.get::<i64>("total")?.unwrap_or(0) + amount;
        ctx.set("n", &n)?;
        ctx.set("total", &total)?;
        let me = ctx.address().clone();
        let seen = format!("{n}:{total}:{}", self.invocations);
        ctx.egress("bench/totals", TypedValue::string(seen));
        if let Some(caller) = ctx.caller().cloned() {
            ctx.send(caller, TypedValue::long(total));
        }
        ctx.send_after_with_token(Duration::from_millis(300), me, TypedValue::int(n), "t");
        ctx.cancel_delayed("old");
        Ok(())
    }
}

fn addr(id: &str) -> Address {
    Address::new("bench", "counter", id)
}

fn all_states(n: Option<i32>) -> Vec<(String, Option<TypedValue>)> {
    vec![
        ("n".into(), n.map(TypedValue::int)),
        ("total".into(), None),
        ("untouched".into(), Some(TypedValue::string("keep"))),
    ]
}

fn batch(states: Vec<(String, Option<TypedValue>)>, messages: Vec<Message>) -> Batch {
    Batch {
        target: addr("u1"),
        states,
        invocations: messages,
    }
}

fn long(v: i64) -> Message {
    Message::new(None, TypedValue::long(v))
}

fn run(states: Vec<(String, Option<TypedValue>)>, messages: Vec<Message>) -> BatchResult {
    run_batch(
        &mut Counter::default(),
        &Counter::states(),
        batch(states, messages),
    )
}

fn done(r: BatchResult) -> Effects {
    match r {
        BatchResult::Done(e) => e,
        other => panic!("expected done, got {other:?}"),
    }
}

#[test]
fn invocations_see_earlier_state_changes_and_only_changed_states_are_mutated() {
    let caller = addr("other");
    let e = done(run(
        all_states(Some(4)),
        vec![
            long(10),
            Message::new(Some(caller.clone()), TypedValue::long(5)),
        ],
    ));
    assert_eq!(
        e.mutations,
        vec![
            ("n".to_owned(), Some(TypedValue::int(6))),
            ("total".to_owned(), Some(TypedValue::long(15))),
        ],
        "final values only, and not the untouched state"
    );
    let egress: Vec<_> = e
        .egress
        .iter()
        .map(|(t, v)| (t.as_str(), v.clone()))
        .collect();
    assert_eq!(
        egress,
        vec![
            ("bench/totals", TypedValue::string("5:10:1")),
            ("bench/totals", TypedValue::string("6:15:2")),
        ]
    );
    assert_eq!(e.messages, vec![(caller, TypedValue::long(15))]);
    assert_eq!(e.delayed.len(), 4);
    assert_eq!(
        e.delayed[0],
        Delayed::Send {
            target: addr("u1"),
            argument: TypedValue::int(5),
            delay_ms: 300,
            token: "t".into(),
        }
    );
    assert_eq!(e.delayed[1], Delayed::Cancel("old".into()));
}

#[test]
fn a_removed_state_is_a_none_mutation() {
    let clear = Message::new(None, TypedValue::string("clear"));
    let e = done(run(all_states(Some(4)), vec![clear]));
    assert_eq!(e.mutations, vec![("n".to_owned(), None)]);
    // Set then removed in the same batch: removed.
    let clear = Message::new(None, TypedValue::string("clear"));
    let e = done(run(all_states(None), vec![long(1), clear]));
    assert_eq!(e.mutations[0], ("n".to_owned(), None));
}

#[test]
fn no_invocation_means_no_mutation() {
    assert_eq!(done(run(all_states(Some(1)), vec![])), Effects::default());
}

#[test]
fn an_absent_state_entry_asks_for_the_specs_and_runs_nothing() {
    let mut f = Counter::default();
    let mut states = all_states(Some(1));
    states.remove(1);
    let r = run_batch(&mut f, &Counter::states(), batch(states, vec![long(1)]));
    assert_eq!(r, BatchResult::MissingStates(Counter::states()));
    assert_eq!(f.invocations, 0);
    // An unset state is an entry with no value: not missing.
    assert!(matches!(
        run(all_states(None), vec![long(1)]),
        BatchResult::Done(_)
    ));
}

#[test]
fn an_error_fails_the_whole_batch() {
    let r = run(all_states(Some(1)), vec![long(1), long(-1), long(2)]);
    assert_eq!(r, BatchResult::Failed("negative amount".into()));
    let r = run(
        all_states(None),
        vec![Message::new(None, TypedValue::bool(true))],
    );
    let BatchResult::Failed(m) = r else {
        panic!("{r:?}")
    };
    assert!(m.contains("'io.statefun.types/bool'"), "{m}");
}

#[test]
fn state_access_checks_declaration_and_typename() {
    let cmd = |s: &str| vec![Message::new(None, TypedValue::string(s))];
    let BatchResult::Failed(m) = run(all_states(None), cmd("bad-type")) else {
        panic!()
    };
    assert_eq!(
        m,
        "state 'n' of bench/counter is declared as 'io.statefun.types/int', not io.statefun.types/long"
    );
    let BatchResult::Failed(m) = run(all_states(None), cmd("undeclared")) else {
        panic!()
    };
    assert_eq!(
        m,
        "state 'nope' is not declared in states() of bench/counter"
    );
    // A stored value of another typename than declared is an error too.
    let mut states = all_states(None);
    states[0].1 = Some(TypedValue::long(3));
    let BatchResult::Failed(m) = run(states, vec![long(1)]) else {
        panic!()
    };
    assert!(m.contains("holds a 'io.statefun.types/long'"), "{m}");
}

#[test]
fn json_states_take_user_typenames() {
    #[derive(Default)]
    struct Notes;
    impl StatefulFunction for Notes {
        fn states() -> Vec<ValueSpec> {
            vec![ValueSpec::new("seen", "x/Seen")]
        }
        fn invoke(&mut self, ctx: &mut Context, m: Message) -> Result<()> {
            let mut seen = ctx
                .get::<Json<Vec<String>>>("seen")?
                .map(|j| j.0)
                .unwrap_or_default();
            seen.push(m.as_json::<String>()?);
            ctx.set("seen", &Json(seen))
        }
    }
    let states = vec![(
        "seen".to_owned(),
        Some(TypedValue::new("x/Seen", b"[\"a\"]".to_vec())),
    )];
    let arg = TypedValue::json("x/Word", &"b").expect("json");
    let r = run_batch(
        &mut Notes,
        &Notes::states(),
        batch(states, vec![Message::new(None, arg)]),
    );
    let e = done(r);
    assert_eq!(
        e.mutations,
        vec![(
            "seen".to_owned(),
            Some(TypedValue::new("x/Seen", b"[\"a\",\"b\"]".to_vec()))
        )]
    );
}

#[test]
fn the_dispatcher_keeps_one_instance_per_type_and_fails_unknown_types() {
    let mut d = Dispatcher::new(vec![Entry::of::<Counter>("bench/counter")]);
    assert_eq!(d.typenames(), vec!["bench/counter".to_owned()]);
    done(d.run(batch(all_states(None), vec![long(1)])));
    let e = done(d.run(batch(all_states(None), vec![long(1)])));
    // The egress carries the instance's invocation count: the same instance.
    assert_eq!(e.egress[0].1, TypedValue::string("1:1:2"));
    let mut other = batch(all_states(None), vec![long(1)]);
    other.target = Address::new("bench", "nope", "1");
    assert_eq!(
        d.run(other),
        BatchResult::Failed(
            "no function 'bench/nope' in this component; it has: bench/counter".into()
        )
    );
}
