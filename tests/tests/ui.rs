//! Compile-time behaviour of `#[authentication]`, `#[permission]`, `#[throttle]`
//! and `#[derive(AuthSettings)]`: the `pass` cases must compile (and run), the
//! `fail` cases must fail with exactly the errors in their `.stderr` files.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p tests --test ui`
//! and read the diff: every error must point at the mistake.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
