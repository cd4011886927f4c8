//! The operations on scopegate's records, one module per kind of record.
//! Each takes a [`Context`](crate::Context), checks what it is given against
//! the policy and the limits, writes the change to the store in one step,
//! makes this node's caches forget what changed, and writes one audit event
//! naming who made it. The command line, the admin API and the portal call
//! these and nothing else, so a rule holds the same through every front end.

pub mod admin_tokens;
pub mod apps;
pub mod client_secrets;
pub mod grants;
pub mod key_sets;
pub mod restores;
pub mod scope_requests;
pub mod sessions;
pub mod sign_ins;
pub mod signing_keys;
pub mod tokens;
pub mod users;

/// `items` without repeats, in their first order.
fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}
