//! `application/x-www-form-urlencoded` bodies and query strings: every request to `/token`, `/authorize`,
//! `/introspect` and `/revoke` goes through `Params::parse` first. Any byte string must parse or be refused
//! with `invalid_request`, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use uma_cedar::http::forms::Params;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = Params::parse(data) else {
        return;
    };
    // What the endpoints do next with a parsed form: look parameters up and require them.
    for name in [
        "grant_type",
        "scope",
        "client_id",
        "ticket",
        "claim_token",
        "token",
    ] {
        let got = params.get(name);
        assert_eq!(params.contains(name), got.is_some());
        assert_eq!(params.require(name).ok(), got);
    }
});
