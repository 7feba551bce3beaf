//! Calls into the host's keyed-state interface.

use crate::bindings::weir::function::keyed_state as ks;

/// All elements of a list state.
pub fn list_get(state: u32, slot: u32) -> Vec<Vec<u8>> {
    ks::list_get(state, slot)
}
/// Appends to a list state.
pub fn list_add(state: u32, slot: u32, value: &[u8]) {
    ks::list_add(state, slot, value)
}
/// Replaces a list state.
pub fn list_update(state: u32, slot: u32, values: &[Vec<u8>]) {
    ks::list_update(state, slot, values)
}
/// Clears a list state.
pub fn list_clear(state: u32, slot: u32) {
    ks::list_clear(state, slot)
}
/// Reads a map entry.
pub fn map_get(state: u32, slot: u32, key: &[u8]) -> Option<Vec<u8>> {
    ks::map_get(state, slot, key)
}
/// Writes a map entry.
pub fn map_put(state: u32, slot: u32, key: &[u8], value: &[u8]) {
    ks::map_put(state, slot, key, value)
}
/// Removes a map entry.
pub fn map_remove(state: u32, slot: u32, key: &[u8]) {
    ks::map_remove(state, slot, key)
}
/// All map entries.
pub fn map_entries(state: u32, slot: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    ks::map_entries(state, slot)
}
/// Clears a map state.
pub fn map_clear(state: u32, slot: u32) {
    ks::map_clear(state, slot)
}
