//! The protocol against the published Python SDK (`apache-flink-statefun`
//! 3.3.0, served with aiohttp, installed by `scripts/setup-test-deps`): the
//! dispatcher's requests decode there, the SDK's answers decode here, and
//! the host's duties (registering states on an incomplete context, sending
//! every state with every request) give the greeter what it expects.

use prost::Message as _;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weir_statefun::dispatch::{DelayedOp, Enqueued, Mutation, Outcome};
use weir_statefun::proto::{FromFunction, TypedValue};
use weir_statefun::types::Builtin;
use weir_statefun::{Address, Dispatcher, Message};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_STATEFUN_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("weir-tools/venv-statefun/bin/python")
}

/// The greeter's HTTP server, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        let py = python();
        assert!(
            py.is_file(),
            "{} is missing: run scripts/setup-test-deps (or set WEIR_STATEFUN_PYTHON)",
            py.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/greeter.py");
        let child = Command::new(py)
            .arg(script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .expect("python starts");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}/statefun"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the greeter did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// POSTs a request as the protocol says: the whole body, with its
    /// length, as application/octet-stream.
    fn call(&self, body: Vec<u8>) -> FromFunction {
        let mut r = ureq::post(&self.url)
            .header("Content-Type", "application/octet-stream")
            .send(&body[..])
            .expect("the function answers");
        let bytes = r.body_mut().read_to_vec().expect("body");
        FromFunction::decode(&bytes[..]).expect("a FromFunction")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn string(s: &str) -> TypedValue {
    Builtin::String(s.into()).typed()
}

fn decode(v: &TypedValue) -> Builtin {
    Builtin::decode(&v.typename, &v.value).expect("a built-in value")
}

#[test]
fn the_python_sdk_greeter_gets_its_states_and_its_answers_decode() {
    let server = Server::start();
    let mut d = Dispatcher::new(10, 100);
    let alice = Address::new("example", "greeter", "alice");
    // The host's copy of each address's states.
    let mut state: BTreeMap<String, TypedValue> = BTreeMap::new();
    for round in 1..=3 {
        let Enqueued::Send(mut batch) = d.enqueue(
            &alice,
            Message {
                caller: None,
                argument: string("Alice"),
            },
        ) else {
            panic!("nothing in flight");
        };
        let effects = loop {
            let request = d.request(&batch, |s| state.get(s).cloned());
            match d.on_reply(&alice, server.call(request.encode_to_vec())) {
                Ok(Outcome::Resend(again)) => {
                    assert_eq!(round, 1, "states are registered once");
                    let specs: Vec<(String, String)> = d
                        .states(&alice.function)
                        .map(|s| (s.name.clone(), s.typename.clone()))
                        .collect();
                    assert_eq!(specs, [("seen".into(), "io.statefun.types/int".into())]);
                    batch = again;
                }
                Ok(Outcome::Applied { effects, next }) => {
                    assert!(next.is_none());
                    break effects;
                }
                Err(e) => panic!("round {round}: {e}"),
            }
        };
        // The count went up by one from what the host sent.
        let [Mutation::Modify(name, seen)] = &effects.mutations[..] else {
            panic!("{:?}", effects.mutations);
        };
        assert_eq!(name, "seen");
        assert_eq!(decode(seen), Builtin::Int(round));
        state.insert(name.clone(), seen.clone());
        // The message to the counter, from the greeter.
        let [(to, m)] = &effects.messages[..] else {
            panic!("{:?}", effects.messages);
        };
        assert_eq!(*to, Address::new("example", "counter", "alice"));
        assert_eq!(m.caller.as_ref(), Some(&alice));
        assert_eq!(decode(&m.argument), Builtin::Int(round));
        // The delayed greeting, cancellable by its token.
        let [
            DelayedOp::Send {
                delay_ms,
                token,
                target,
                message,
            },
        ] = &effects.delayed[..]
        else {
            panic!("{:?}", effects.delayed);
        };
        assert_eq!((*delay_ms, token.as_str()), (500, "again-alice"));
        assert_eq!(*target, alice);
        assert_eq!(decode(&message.argument), Builtin::String("Alice".into()));
        // The egress message.
        let [e] = &effects.egress[..] else {
            panic!("{:?}", effects.egress);
        };
        assert_eq!(
            (e.namespace.as_str(), e.name.as_str()),
            ("example", "greetings")
        );
        assert_eq!(
            decode(&e.argument),
            Builtin::String(format!("Hello Alice, #{round}"))
        );
    }
    assert!(d.is_idle());
}
