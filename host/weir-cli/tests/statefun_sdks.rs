//! The StateFun playground examples in `functions-examples/statefun`
//! (greeter, shopping cart), each written with the four published StateFun
//! SDKs (Python, JavaScript, Java, Go) and served as users serve them,
//! behind `weir run module.yaml` with the playground ingress and egress:
//! scripted requests go in over HTTP, and what comes out of the egress
//! equals what the test computes from the requests alone.
//!
//! The servers are installed and built by `scripts/setup-statefun-sdks`
//! (which `scripts/setup-test-deps` calls).

mod common;

use common::statefun::{FunctionServer, PlaygroundJob, Sdk};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long a message may take to come out of the egress.
const TIMEOUT: Duration = Duration::from_secs(60);

fn module(example: &str) -> PathBuf {
    common::root()
        .join("functions-examples/statefun")
        .join(example)
        .join("module.yaml")
}

/// The example's server for `sdk` and `weir run` of its module.
fn start(example: &str, sdk: Sdk, dir: &std::path::Path) -> (FunctionServer, PlaygroundJob) {
    let server = FunctionServer::example(example, sdk, dir);
    let job = PlaygroundJob::start(&module(example), &server.url, dir);
    (server, job)
}

// ---------------------------------------------------------------- greeter

/// The greeting for a person's `visits`-th visit.
fn greeting(name: &str, visits: u32) -> String {
    match visits {
        1 => format!("Welcome {name}"),
        2 => format!("Nice to see you again {name}"),
        3 => format!("Third time is a charm {name}"),
        n => format!("Nice to see you at the {n}-nth time {name}!"),
    }
}

/// Sends interleaved visits of a few people and reads every greeting: all
/// of them come out, once, each person's in visit order.
fn greeter(sdk: Sdk) {
    let tmp = tempfile::tempdir().expect("tmp");
    let (server, mut job) = start("greeter", sdk, tmp.path());
    let lang = sdk.dir();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let names = ["Ann", "Bob", "Cy", "Dee", "Eve"];
    let mut left: Vec<(&str, u32)> = names
        .iter()
        .map(|n| (*n, rng.random_range(1..=6u32)))
        .collect();
    let mut sent: Vec<&str> = Vec::new();
    while !left.is_empty() {
        let i = rng.random_range(0..left.len());
        sent.push(left[i].0);
        left[i].1 -= 1;
        if left[i].1 == 0 {
            left.swap_remove(i);
        }
    }

    // Each greeting names its person and visit, so it tells where it is from.
    let mut want: BTreeMap<String, (&str, u32)> = BTreeMap::new();
    let mut visits: BTreeMap<&str, u32> = BTreeMap::new();
    for name in &sent {
        let v = visits.entry(name).or_default();
        *v += 1;
        want.insert(greeting(name, *v), (name, *v));
        let body = serde_json::json!({ "name": name }).to_string();
        job.put(
            &format!("example/person/{name}"),
            "example/GreetRequest",
            &body,
        );
    }

    let mut seen: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for _ in 0..sent.len() {
        let got = job.next("greetings", TIMEOUT);
        let Some((name, visit)) = want.get(&got) else {
            panic!("{lang}: an unexpected greeting {got:?}");
        };
        seen.entry(name).or_default().push(*visit);
    }
    job.assert_no_more("greetings", Duration::from_millis(500));
    for (name, n) in &visits {
        assert_eq!(
            seen.get(name).cloned().unwrap_or_default(),
            (1..=*n).collect::<Vec<u32>>(),
            "{lang}: {name}'s greetings, one per visit in visit order (server log {})",
            server.log.display()
        );
    }
}

#[test]
fn greeter_python() {
    greeter(Sdk::Python);
}

#[test]
fn greeter_javascript() {
    greeter(Sdk::JavaScript);
}

#[test]
fn greeter_java() {
    greeter(Sdk::Java);
}

#[test]
fn greeter_go() {
    greeter(Sdk::Go);
}

// ---------------------------------------------------------- shopping cart

type Basket = BTreeMap<String, u32>;

/// A step of the shopping-cart script.
enum Step {
    Restock(&'static str, u32),
    Add(&'static str, &'static str, u32),
    Clear(&'static str),
    /// A checkout whose receipt is read at once: the basket is settled
    /// (nothing of the user's is on its way), so the receipt is exact.
    Checkout(&'static str),
    /// Waits until everything added to the user's cart has come back from
    /// the stock: checks out until the receipt shows the basket the model
    /// expects, every receipt on the way a part of it, never shrinking.
    Settle(&'static str),
}

/// The receipt the functions write for `user`'s `basket`.
fn receipt(user: &str, basket: &Basket) -> String {
    let items: Vec<String> = basket.iter().map(|(i, n)| format!("{i} x{n}")).collect();
    if items.is_empty() {
        format!("Receipt for user {user}: (empty)")
    } else {
        format!("Receipt for user {user}: {}", items.join(", "))
    }
}

/// The basket a receipt for `user` shows.
fn parse_receipt(user: &str, text: &str) -> Option<Basket> {
    let items = text.strip_prefix(&format!("Receipt for user {user}: "))?;
    if items == "(empty)" {
        return Some(Basket::new());
    }
    items
        .split(", ")
        .map(|e| {
            let (item, n) = e.rsplit_once(" x")?;
            Some((item.to_owned(), n.parse().ok()?))
        })
        .collect()
}

/// The model: the stock and the baskets after each step, applied in order.
/// Between two settles, the adds of an item must not compete for its stock:
/// those that fit in the stock the item had when the phase began must fit
/// all together, so that the order in which the stock answers them cannot
/// change the outcome (the others are out of stock whatever the order).
#[derive(Default)]
struct Model {
    stock: BTreeMap<String, u32>,
    baskets: BTreeMap<String, Basket>,
    /// Per item, its stock when the phase began and the quantities the
    /// phase's adds asked for.
    phase: BTreeMap<String, (u32, Vec<u32>)>,
}

impl Model {
    fn apply(&mut self, step: &Step) {
        match *step {
            Step::Restock(item, n) => {
                assert!(self.phase.is_empty(), "a restock amid a phase's adds");
                *self.stock.entry(item.to_owned()).or_default() += n;
            }
            Step::Add(user, item, n) => {
                let have = self.stock.entry(item.to_owned()).or_default();
                let (start, asked) = self
                    .phase
                    .entry(item.to_owned())
                    .or_insert((*have, Vec::new()));
                asked.push(n);
                let fitting: u32 = asked.iter().filter(|&&q| q <= *start).sum();
                assert!(
                    fitting <= *start,
                    "the script makes adds of {item} compete for its stock"
                );
                if n <= *have {
                    *have -= n;
                    let basket = self.baskets.entry(user.to_owned()).or_default();
                    *basket.entry(item.to_owned()).or_default() += n;
                }
            }
            Step::Clear(user) => {
                assert!(self.phase.is_empty(), "a clear amid a phase's adds");
                for (item, n) in self.baskets.remove(user).unwrap_or_default() {
                    *self.stock.entry(item).or_default() += n;
                }
            }
            Step::Checkout(_) => {}
            Step::Settle(_) => self.phase.clear(),
        }
    }

    fn basket(&self, user: &str) -> Basket {
        self.baskets.get(user).cloned().unwrap_or_default()
    }
}

/// Restocks, adds (some out of stock), settles every cart, clears one
/// (its items go back to stock, which a later add needs), adds again,
/// settles: every receipt matches the model.
fn shopping_cart(sdk: Sdk) {
    use Step::*;
    let script = [
        Restock("socks", 20),
        Restock("hats", 6),
        Restock("gloves", 3),
        Add("u1", "socks", 3),
        Add("u2", "hats", 4),
        Add("u3", "gloves", 3),
        Add("u1", "hats", 2),
        Add("u2", "gloves", 5), // more than there will ever be: out of stock
        Add("u3", "socks", 10),
        Add("u1", "socks", 2),
        Add("u1", "scarf", 1), // never stocked
        Settle("u1"),
        Settle("u2"),
        Settle("u3"),
        Clear("u3"),
        Checkout("u3"),
        Add("u2", "gloves", 3), // only there since u3's cart was cleared
        Add("u1", "socks", 15), // 5 left, and 10 back from u3
        Add("u1", "hats", 1),   // all 6 are in carts
        Settle("u1"),
        Settle("u2"),
        Checkout("u3"),
        Checkout("u1"),
    ];

    let tmp = tempfile::tempdir().expect("tmp");
    let (server, mut job) = start("shopping-cart", sdk, tmp.path());
    let lang = sdk.dir();
    let mut model = Model::default();
    for step in &script {
        model.apply(step);
        match *step {
            Restock(item, n) => job.put(
                &format!("com.example/stock/{item}"),
                "com.example/RestockItem",
                &serde_json::json!({"itemId": item, "quantity": n}).to_string(),
            ),
            Add(user, item, n) => job.put(
                &format!("com.example/user-shopping-cart/{user}"),
                "com.example/AddToCart",
                &serde_json::json!({"userId": user, "itemId": item, "quantity": n}).to_string(),
            ),
            Clear(user) => job.put(
                &format!("com.example/user-shopping-cart/{user}"),
                "com.example/ClearCart",
                &serde_json::json!({ "userId": user }).to_string(),
            ),
            Checkout(user) => {
                checkout(&mut job, user);
                let got = job.next("receipts", TIMEOUT);
                assert_eq!(
                    got,
                    receipt(user, &model.basket(user)),
                    "{lang}: {user}'s receipt"
                );
            }
            Settle(user) => {
                let want = model.basket(user);
                let mut last = Basket::new();
                let deadline = std::time::Instant::now() + TIMEOUT;
                loop {
                    checkout(&mut job, user);
                    let got = job.next("receipts", TIMEOUT);
                    let basket = parse_receipt(user, &got)
                        .unwrap_or_else(|| panic!("{lang}: not a receipt for {user}: {got:?}"));
                    for (item, n) in &basket {
                        assert!(
                            want.get(item).is_some_and(|w| n <= w),
                            "{lang}: {user}'s receipt {got:?} has more than {want:?}"
                        );
                    }
                    for (item, n) in &last {
                        assert!(
                            basket.get(item).is_some_and(|b| b >= n),
                            "{lang}: {user}'s basket shrank from {last:?} to {got:?}"
                        );
                    }
                    if basket == want {
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{lang}: {user}'s basket is {got:?}, not {want:?}, after {TIMEOUT:?} (server log {})",
                        server.log.display()
                    );
                    last = basket;
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
    job.assert_no_more("receipts", Duration::from_millis(500));
}

fn checkout(job: &mut PlaygroundJob, user: &str) {
    job.put(
        &format!("com.example/user-shopping-cart/{user}"),
        "com.example/Checkout",
        &serde_json::json!({ "userId": user }).to_string(),
    );
}

#[test]
fn shopping_cart_python() {
    shopping_cart(Sdk::Python);
}

#[test]
fn shopping_cart_javascript() {
    shopping_cart(Sdk::JavaScript);
}

#[test]
fn shopping_cart_java() {
    shopping_cart(Sdk::Java);
}

#[test]
fn shopping_cart_go() {
    shopping_cart(Sdk::Go);
}
