//! Job files: parsing, validation and planning never panic, whatever the
//! text; a valid job always plans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use weir_core::JobGraph;
use weir_core::graph::Overrides;
use weir_core::plan::PhysicalPlan;

fuzz_target!(|text: &str| {
    let base = std::env::temp_dir();
    if let Ok(graph) =
        JobGraph::from_toml(text, Path::new("fuzz.toml"), &base, &Overrides::default())
    {
        let plan = PhysicalPlan::new(&graph);
        assert!(!plan.chains.is_empty());
    }
});
