//! The browser host (issue 4): will wrap [`hotstuff_core::sim::Simulation`] for JavaScript with
//! wasm-bindgen. Empty until then; it exists so the workspace layout is final.
