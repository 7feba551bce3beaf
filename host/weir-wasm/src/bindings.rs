//! Host bindings generated from the WIT package, one module per world the
//! host instantiates.

/// Stateless transforms.
pub mod transform {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "transform-function",
        exports: { default: async },
    });
}

/// Keyed functions (reduce, aggregate, keyed process).
pub mod keyed {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "keyed-process-function",
        imports: { default: trappable },
        exports: { default: async },
        // One set of shared types for both worlds.
        with: { "weir:function/types": super::transform::weir::function::types },
    });
}

/// Window functions (reduce, aggregate, process-window on windows).
pub mod window {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "window-function",
        exports: { default: async },
        with: { "weir:function/types": super::transform::weir::function::types },
    });
}

/// Chained functions in one call (any component that also exports
/// `weir:function/chain`).
pub mod chain {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "chain-function",
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "weir:function/types": super::transform::weir::function::types,
            "weir:function/keyed-state": super::keyed::weir::function::keyed_state,
        },
    });
}

/// Stateful Functions run in-process (the StateFun model). Its types are
/// public (`weir_wasm::stateful_wit`); their docs are the WIT's.
#[allow(missing_docs)]
pub mod stateful {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "stateful-functions",
        exports: { default: async },
    });
}
