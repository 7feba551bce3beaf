use super::*;
use crate::proto::from_function::{
    self, ExpirationSpec, IncompleteInvocationContext, InvocationResponse, PersistedValueMutation,
    PersistedValueSpec, Response,
};
use rand::{Rng, SeedableRng};

fn value(n: u32) -> TypedValue {
    crate::types::Builtin::Int(n as i32).typed()
}

fn msg(n: u32) -> Message {
    Message {
        caller: None,
        argument: value(n),
    }
}

fn result(r: InvocationResponse) -> FromFunction {
    FromFunction {
        response: Some(Response::InvocationResult(r)),
    }
}

fn numbers(messages: &[Message]) -> Vec<u32> {
    messages
        .iter()
        .map(
            |m| match crate::types::Builtin::decode(&m.argument.typename, &m.argument.value) {
                Ok(crate::types::Builtin::Int(n)) => n as u32,
                other => panic!("{other:?}"),
            },
        )
        .collect()
}

#[test]
fn one_request_per_address_and_the_backlog_goes_next_in_order() {
    let mut d = Dispatcher::new(2, 3);
    let a = Address::new("ex", "greeter", "a");
    let b = Address::new("ex", "greeter", "b");
    let Enqueued::Send(first) = d.enqueue(&a, msg(1)) else {
        panic!("sent at once");
    };
    assert_eq!(numbers(&first.messages), [1]);
    assert!(matches!(d.enqueue(&b, msg(10)), Enqueued::Send(_)));
    for n in 2..=4 {
        assert_eq!(d.enqueue(&a, msg(n)), Enqueued::Queued);
    }
    // The backlog is full: the fifth waits outside.
    assert_eq!(d.enqueue(&a, msg(5)), Enqueued::Full(msg(5)));
    assert_eq!(d.in_flight(), 2);
    let Outcome::Applied {
        next: Some(next), ..
    } = d
        .on_reply(&a, result(InvocationResponse::default()))
        .expect("ok")
    else {
        panic!("the backlog goes next");
    };
    assert_eq!(numbers(&next.messages), [2, 3], "at most max_batch");
    let Outcome::Applied {
        next: Some(next), ..
    } = d
        .on_reply(&a, result(InvocationResponse::default()))
        .expect("ok")
    else {
        panic!("then the rest");
    };
    assert_eq!(numbers(&next.messages), [4]);
    let Outcome::Applied { next: None, .. } = d
        .on_reply(&a, result(InvocationResponse::default()))
        .expect("ok")
    else {
        panic!("nothing left");
    };
    assert!(matches!(
        d.on_reply(&a, result(InvocationResponse::default())),
        Err(ProtocolError::NotInFlight(_))
    ));
    assert!(!d.is_idle(), "b is still in flight");
    d.on_reply(&b, result(InvocationResponse::default()))
        .expect("ok");
    assert!(d.is_idle());
}

#[test]
fn an_incomplete_context_registers_the_states_and_the_batch_is_sent_again() {
    let mut d = Dispatcher::new(10, 10);
    let a = Address::new("ex", "cart", "u1");
    let Enqueued::Send(batch) = d.enqueue(&a, msg(1)) else {
        panic!();
    };
    // Before registration the request carries no state.
    let Some(proto::to_function::Request::Invocation(req)) = d.request(&batch, |_| None).request
    else {
        panic!();
    };
    assert!(req.state.is_empty());
    let incomplete = FromFunction {
        response: Some(Response::IncompleteInvocationContext(
            IncompleteInvocationContext {
                missing_values: vec![
                    PersistedValueSpec {
                        state_name: "seen".into(),
                        expiration_spec: Some(ExpirationSpec {
                            mode: from_function::expiration_spec::ExpireMode::AfterWrite as i32,
                            expire_after_millis: 5000,
                        }),
                        type_typename: "io.statefun.types/int".into(),
                    },
                    PersistedValueSpec {
                        state_name: "items".into(),
                        expiration_spec: None,
                        type_typename: "ex/Items".into(),
                    },
                ],
            },
        )),
    };
    let Outcome::Resend(again) = d.on_reply(&a, incomplete.clone()).expect("ok") else {
        panic!("resend");
    };
    assert_eq!(again, batch);
    // Now every registered state goes with the request, valued or not.
    let Some(proto::to_function::Request::Invocation(req)) = d
        .request(&again, |s| (s == "seen").then(|| value(3)))
        .request
    else {
        panic!();
    };
    let states: Vec<(&str, bool)> = req
        .state
        .iter()
        .map(|s| (s.state_name.as_str(), s.state_value.is_some()))
        .collect();
    assert_eq!(states, [("items", false), ("seen", true)]);
    assert_eq!(
        d.states(&a.function)
            .find(|s| s.name == "seen")
            .map(|s| s.expiration),
        Some(Expiration::AfterWriteMs(5000))
    );
    // The same name with another type is refused.
    let mut conflict = incomplete;
    if let Some(Response::IncompleteInvocationContext(c)) = &mut conflict.response {
        c.missing_values[0].type_typename = "io.statefun.types/string".into();
    }
    let e = d.on_reply(&a, conflict).expect_err("conflict");
    assert!(matches!(e, ProtocolError::StateTypeConflict { .. }), "{e}");
}

#[test]
fn responses_are_checked_before_anything_applies() {
    let mut d = Dispatcher::new(10, 10);
    let a = Address::new("ex", "cart", "u1");
    d.register(
        &a.function,
        StateSpec {
            name: "n".into(),
            typename: "io.statefun.types/int".into(),
            expiration: Expiration::Never,
        },
    )
    .expect("register");
    d.enqueue(&a, msg(1));
    let modify = |typename: &str, state: &str| PersistedValueMutation {
        mutation_type: from_function::persisted_value_mutation::MutationType::Modify as i32,
        state_name: state.into(),
        state_value: Some(TypedValue {
            typename: typename.into(),
            has_value: true,
            value: vec![],
        }),
    };
    let bad = [
        InvocationResponse {
            state_mutations: vec![modify("io.statefun.types/string", "n")],
            ..Default::default()
        },
        InvocationResponse {
            state_mutations: vec![modify("io.statefun.types/int", "other")],
            ..Default::default()
        },
        InvocationResponse {
            outgoing_messages: vec![from_function::Invocation {
                target: Some(proto::Address {
                    namespace: "ex".into(),
                    r#type: String::new(),
                    id: "x".into(),
                }),
                argument: None,
            }],
            ..Default::default()
        },
        InvocationResponse {
            delayed_invocations: vec![from_function::DelayedInvocation {
                delay_in_ms: -5,
                target: Some(a.to_proto()),
                ..Default::default()
            }],
            ..Default::default()
        },
    ];
    for r in bad {
        assert!(d.on_reply(&a, result(r)).is_err());
        assert_eq!(d.in_flight(), 1, "the batch stays in flight");
    }
    // A good one: effects in order, the caller set to the responder.
    let good = InvocationResponse {
        state_mutations: vec![
            modify("io.statefun.types/int", "n"),
            PersistedValueMutation {
                mutation_type: 0,
                state_name: "n".into(),
                state_value: None,
            },
        ],
        outgoing_messages: vec![from_function::Invocation {
            target: Some(Address::new("ex", "other", "z").to_proto()),
            argument: Some(value(7)),
        }],
        delayed_invocations: vec![
            from_function::DelayedInvocation {
                delay_in_ms: 250,
                cancellation_token: "t1".into(),
                target: Some(a.to_proto()),
                argument: Some(value(8)),
                is_cancellation_request: false,
            },
            from_function::DelayedInvocation {
                is_cancellation_request: true,
                cancellation_token: "t0".into(),
                ..Default::default()
            },
        ],
        outgoing_egresses: vec![from_function::EgressMessage {
            egress_namespace: "io.statefun.playground".into(),
            egress_type: "egress".into(),
            argument: Some(value(9)),
        }],
    };
    let Outcome::Applied {
        effects,
        next: None,
    } = d.on_reply(&a, result(good)).expect("ok")
    else {
        panic!();
    };
    assert_eq!(effects.messages[0].0, Address::new("ex", "other", "z"));
    assert_eq!(effects.messages[0].1.caller, Some(a.clone()));
    assert!(
        matches!(&effects.delayed[0], DelayedOp::Send { delay_ms: 250, token, .. } if token == "t1")
    );
    assert_eq!(effects.delayed[1], DelayedOp::Cancel { token: "t0".into() });
    assert_eq!(effects.egress[0].name, "egress");
    assert!(
        matches!(&effects.mutations[..], [Mutation::Modify(n, _), Mutation::Delete(m)] if n == "n" && m == "n")
    );
}

#[test]
fn addresses_parse_with_ids_that_hold_slashes() {
    assert_eq!(
        Address::parse("ex/greeter/a/b"),
        Some(Address::new("ex", "greeter", "a/b"))
    );
    for bad in ["ex/greeter", "ex//x", "/g/x", "ex/g/"] {
        assert_eq!(Address::parse(bad), None, "{bad}");
    }
    assert_eq!(Address::new("a", "b", "c").to_string(), "a/b/c");
}

/// A model test: random messages to a few addresses, answered in random
/// order, sometimes first with an incomplete context, sometimes failing
/// (answered again later) or set aside; a snapshot and restore now and
/// then. Each address's accepted messages must be applied exactly once,
/// in the order they were accepted, with one request in flight per
/// address and batches within their cap.
#[test]
fn model_every_accepted_message_applies_once_in_order() {
    for seed in 0..200u64 {
        run_model(seed);
    }
}

fn run_model(seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (max_batch, max_backlog) = (rng.random_range(1..4), rng.random_range(1..6));
    let mut d = Dispatcher::new(max_batch, max_backlog);
    let addresses: Vec<Address> = (0..3)
        .map(|i| Address::new("m", "f", &i.to_string()))
        .collect();
    let f = addresses[0].function.clone();
    let mut accepted: HashMap<Address, Vec<u32>> = HashMap::new();
    let mut applied: HashMap<Address, Vec<u32>> = HashMap::new();
    let mut abandoned: HashMap<Address, Vec<u32>> = HashMap::new();
    // What the "network" holds: the batch sent per address.
    let mut sent: HashMap<Address, Batch> = HashMap::new();
    let mut registered = false;
    let mut next = 0u32;
    let send = |sent: &mut HashMap<Address, Batch>, b: Batch| {
        assert!(
            b.messages.len() <= max_batch,
            "seed {seed}: batch over its cap"
        );
        assert!(
            sent.insert(b.address.clone(), b).is_none(),
            "seed {seed}: two requests in flight for one address"
        );
    };
    for _ in 0..400 {
        match rng.random_range(0..10) {
            0..=4 => {
                let a = addresses[rng.random_range(0..addresses.len())].clone();
                next += 1;
                match d.enqueue(&a, msg(next)) {
                    Enqueued::Send(b) => {
                        accepted.entry(a).or_default().push(next);
                        send(&mut sent, b);
                    }
                    Enqueued::Queued => accepted.entry(a).or_default().push(next),
                    Enqueued::Full(_) => {}
                }
            }
            5..=7 => {
                let Some(a) = sent.keys().next().cloned() else {
                    continue;
                };
                if !registered && rng.random_bool(0.5) {
                    let reply = FromFunction {
                        response: Some(Response::IncompleteInvocationContext(
                            IncompleteInvocationContext {
                                missing_values: vec![PersistedValueSpec {
                                    state_name: "s".into(),
                                    expiration_spec: None,
                                    type_typename: "io.statefun.types/int".into(),
                                }],
                            },
                        )),
                    };
                    let Ok(Outcome::Resend(b)) = d.on_reply(&a, reply) else {
                        panic!("seed {seed}: resend");
                    };
                    assert_eq!(Some(&b), sent.get(&a), "seed {seed}: the same batch");
                    registered = true;
                    continue;
                }
                if rng.random_bool(0.2) {
                    // The call failed: it is retried later, unchanged.
                    continue;
                }
                let Some(b) = sent.remove(&a) else { continue };
                if rng.random_bool(0.05) {
                    let (failed, next_batch) = d.abandon(&a).expect("in flight");
                    assert_eq!(failed, b.messages);
                    abandoned.entry(a).or_default().extend(numbers(&failed));
                    if let Some(n) = next_batch {
                        send(&mut sent, n);
                    }
                    continue;
                }
                match d.on_reply(&a, result(InvocationResponse::default())) {
                    Ok(Outcome::Applied { next, .. }) => {
                        applied.entry(a).or_default().extend(numbers(&b.messages));
                        if let Some(n) = next {
                            send(&mut sent, n);
                        }
                    }
                    other => panic!("seed {seed}: {other:?}"),
                }
            }
            _ => {
                // A checkpoint, then a restore: in-flight requests are lost
                // with the process and sent again.
                let snap = d.snapshot();
                let (restored, batches) = Dispatcher::restore(snap.clone(), max_batch, max_backlog);
                assert_eq!(
                    restored.snapshot(),
                    snap,
                    "seed {seed}: snapshot round trip"
                );
                d = restored;
                sent.clear();
                for b in batches {
                    send(&mut sent, b);
                }
            }
        }
    }
    // Drain: answer everything.
    while let Some(a) = sent.keys().next().cloned() {
        let b = sent.remove(&a).expect("sent");
        match d.on_reply(&a, result(InvocationResponse::default())) {
            Ok(Outcome::Applied { next, .. }) => {
                applied.entry(a).or_default().extend(numbers(&b.messages));
                if let Some(n) = next {
                    send(&mut sent, n);
                }
            }
            Ok(Outcome::Resend(_)) => panic!("seed {seed}: registered already"),
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    assert!(d.is_idle(), "seed {seed}");
    assert_eq!(d.states(&f).count(), usize::from(registered));
    for a in &addresses {
        let want = accepted.get(a).cloned().unwrap_or_default();
        let mut got: Vec<u32> = applied.get(a).cloned().unwrap_or_default();
        got.extend(abandoned.get(a).cloned().unwrap_or_default());
        got.sort_unstable();
        assert_eq!(got, want, "seed {seed} {a}: each message once");
        let order = applied.get(a).cloned().unwrap_or_default();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "seed {seed} {a}: in order"
        );
    }
}

#[test]
fn an_empty_response_is_an_empty_result_as_in_statefun() {
    let mut d = Dispatcher::new(10, 10);
    let a = Address::new("ex", "quiet", "u1");
    d.enqueue(&a, msg(1));
    d.enqueue(&a, msg(2));
    let Outcome::Applied {
        effects,
        next: Some(next),
    } = d
        .on_reply(&a, FromFunction { response: None })
        .expect("applied")
    else {
        panic!("applied, and the backlog goes next");
    };
    assert_eq!(effects, Effects::default());
    assert_eq!(numbers(&next.messages), [2]);
}
