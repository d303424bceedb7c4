//! A smaller load run than `cargo xtask bench`'s, on a stack of the test's own: many sign-ups at
//! once, then many at once for a few emails. No 5xx, the same 202 for every sign-up, one user
//! per distinct address, one email per sign-up up to the address's cap and never more (100
//! sign-ups at once on 10 addresses: 3 emails each, the default cap), an empty DLQ, no secret
//! in the functions' logs.

use local_stack::StackEnv;
use xtask::layout::Layout;

mod support;
use support::{StackGuard, state_dir, up_with};

#[tokio::test]
async fn concurrent_sign_ups_keep_every_promise() {
    let state = state_dir("load");
    let _guard = StackGuard(state.clone());
    // All of them from one client (127.0.0.1): the stack's per-client limit raised for it, the
    // per-address cap as deployed.
    up_with(&state, &["--signup-limit-per-ip", "100000"]);
    let layout = Layout::new(Layout::workspace_root(), Some(state.clone()));
    let env = StackEnv::read(&layout.stack_env()).unwrap();

    for (signups, concurrency, distinct) in [(200, 20, None), (100, 100, Some(10))] {
        let report = xtask::bench::load::run(&env, signups, concurrency, distinct)
            .await
            .unwrap();
        assert!(
            report.problems().is_empty(),
            "{signups} sign-ups: {:?}",
            report.problems()
        );
    }
    xtask::secret_scan::no_secrets_in_logs(&layout).unwrap();
}
