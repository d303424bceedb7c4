//! Committed files derived from template.yaml must match it, and the Docker path's scripts
//! must at least parse: that path cannot run on machines without Docker, so it stays correct
//! by construction.

use std::process::Command;
use xtask::layout::Layout;
use xtask::local::template::localstack as generate;

#[test]
fn docker_stack_template_is_current() {
    let layout = Layout::new(Layout::workspace_root(), None);
    let committed = std::fs::read_to_string(generate::docker_stack_path(&layout)).unwrap();
    assert!(
        committed == generate::docker_stack(&layout).unwrap(),
        "localstack/stack.yaml is stale: run `cargo xtask gen`"
    );
}

#[test]
fn init_hook_is_valid_bash_and_reads_the_generated_stack() {
    let hook = Layout::workspace_root().join("localstack/init/ready.d/10-provision.sh");
    let status = Command::new("bash").arg("-n").arg(&hook).status().unwrap();
    assert!(status.success(), "{} does not parse", hook.display());
    let compose = std::fs::read_to_string(Layout::workspace_root().join("localstack/compose.yaml")).unwrap();
    assert!(
        compose.contains("localstack/localstack:4.14.0"),
        "pin the last token-free LocalStack image"
    );
    assert!(
        compose.contains("./stack.yaml:/etc/localstack/stack.yaml"),
        "the hook reads the generated stack"
    );
}
