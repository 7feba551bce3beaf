//! Stateful Functions behind `weir run module.yaml`, with functions
//! written with the published StateFun Python SDK (served by aiohttp): the
//! egress equals a reference computed from the input alone.

mod common;

use common::statefun::{PyFunctions, check_ledger, ledger_input, ledger_module};
use common::*;

#[test]
fn a_python_sdk_app_behind_weir_run_module_yaml_egresses_the_reference() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = PyFunctions::start("ledger.py");
    let module = ledger_module(tmp.path(), &server.url);
    let (input, sent) = ledger_input(tmp.path(), 40, 7);
    let out = tmp.path().join("out");
    let o = weir()
        .arg("run")
        .arg(&module)
        .args(["--quiet", "--parallelism", "2", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .output()
        .expect("weir run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_ledger(&committed_lines(&out), &sent);
}
