//! A WASI command, not a Weir function: Weir must refuse it with a clear error.

fn main() {
    println!("hello from the wrong world");
}
