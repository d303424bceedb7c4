//! `bench/results.md`'s sections that other runs write: the instruction counts, which
//! `--instructions` writes and a full run carries over as they are.

use super::PerLanguage;
use crate::bench::instructions::{COUNTED, Counted, Part, WARM_UP};
use std::fmt::Write as _;

/// The heading of the instruction counts' section of `bench/results.md`, which
/// `cargo xtask bench --instructions` writes and a full run carries over as it is.
pub const INSTRUCTIONS_HEADING: &str = "## Where create-user's own time goes: instructions per warm invocation";

/// The instruction counts' section, from `--instructions` on `revision`.
pub fn instructions_section(counted: &PerLanguage<Counted>, revision: &str) -> String {
    let millions = |n: f64| format!("{:.2} M", n / 1e6);
    let mut out = format!(
        "{INSTRUCTIONS_HEADING}\n\n\
         Written by `cargo xtask bench --instructions` on {revision}: each process under valgrind's \
         callgrind answered {WARM_UP} sign-ups (BCRYPT_COST=4), then {COUNTED} counted ones; \
         instructions executed per counted invocation, in every thread, grouped by the function \
         that executed them (its own instructions, not its callees'). Rust: the release build with \
         its symbols kept. A count does not move with the machine's load as wall time does; it \
         weighs an instruction of bcrypt the same as one of a cache-missing hash lookup, so it says \
         where the work is, not exactly where the milliseconds are.\n\n\
         | executed by | Rust | Python | Rust/Python |\n|---|---|---|---|\n"
    );
    let parts: std::collections::BTreeSet<Part> = counted
        .iter()
        .flat_map(|(_, c)| c.per_invocation.keys().copied())
        .collect();
    let python = counted.python.as_ref();
    for part in parts {
        let rust = counted.rust.per_invocation.get(&part).copied().unwrap_or(0.0);
        let py = python.map(|p| p.per_invocation.get(&part).copied().unwrap_or(0.0));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            part.describe(),
            millions(rust),
            py.map_or("-".into(), millions),
            py.filter(|p| *p > 0.0)
                .map_or("-".into(), |p| format!("{:.2}", rust / p)),
        );
    }
    let (rust, py) = (counted.rust.total(), python.map(Counted::total));
    let _ = writeln!(
        out,
        "| **all** | **{}** | **{}** | **{}** |",
        millions(rust),
        py.map_or("-".into(), millions),
        py.map_or("-".into(), |p| format!("{:.2}", rust / p.max(1.0))),
    );
    for (language, c) in counted.iter() {
        let _ = writeln!(
            out,
            "\nThe heaviest functions, {} (own instructions per invocation):\n",
            language.name()
        );
        for (function, n) in c.top.iter().take(10) {
            let _ = writeln!(out, "- {} `{}`", millions(*n), function.replace('`', "'"));
        }
    }
    out
}

/// `doc` with its `heading` section (up to the next `## ` heading) replaced by `section`, or,
/// without one, `section` put before the distributions (or at the end).
pub fn splice(doc: &str, heading: &str, section: &str) -> String {
    let section = format!("{}\n\n", section.trim_end());
    if let Some(old) = self::section(doc, heading) {
        return doc.replacen(old, &section, 1);
    }
    match doc.find("\n## Distributions") {
        Some(at) => format!("{}{section}{}", &doc[..at + 1], &doc[at + 1..]),
        None => format!("{}\n\n{section}", doc.trim_end()),
    }
}

/// The section under `heading` in `doc` (to the next `## ` heading or the end), when there is
/// one.
pub fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let start = doc.find(heading)?;
    let after = start + heading.len();
    let end = doc[after..].find("\n## ").map_or(doc.len(), |i| after + i + 1);
    Some(&doc[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instructions_section_is_replaced_inserted_or_carried_over() {
        let doc = "# r\n\nfigures\n\n## Distributions\n\n| d |\n";
        let first = splice(doc, INSTRUCTIONS_HEADING, &format!("{INSTRUCTIONS_HEADING}\n\nold"));
        assert!(
            first.find("old").unwrap() < first.find("## Distributions").unwrap(),
            "{first}"
        );
        let second = splice(&first, INSTRUCTIONS_HEADING, &format!("{INSTRUCTIONS_HEADING}\n\nnew"));
        assert!(second.contains("new") && !second.contains("old"), "{second}");
        assert!(second.ends_with("## Distributions\n\n| d |\n"), "{second}");
        let carried = section(&second, INSTRUCTIONS_HEADING).unwrap();
        assert_eq!(splice(doc, INSTRUCTIONS_HEADING, carried), second);
    }
}
