//! What the sweep runs and what it is for: the memory sizes, the workloads and their latency
//! objectives, how many iterations each cell gets (bounded so that the whole sweep takes about
//! 15 minutes here: at 128 MB a cost-12 bcrypt hash takes ~3.5 s), and the choice of the
//! cheapest size that meets an objective.

use crate::bench::functions::Function;
use crate::bench::report;
use std::time::Duration;

/// The sizes swept unless `--sizes` says otherwise: Lambda's smallest, doublings, and 1,769 MB,
/// where a function gets one full vCPU.
pub const SIZES: [u64; 5] = [128, 256, 512, 1024, 1769];

/// A latency a workload's warm p99 must stay under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    pub p99_under: Duration,
}

impl Objective {
    pub fn met(&self, p99: Duration) -> bool {
        p99 < self.p99_under
    }
}

/// One function at one bcrypt cost, and the objective its size is chosen by, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    pub function: Function,
    pub cost: u32,
    pub objective: Option<Objective>,
}

const ONE_SECOND: Objective = Objective {
    p99_under: Duration::from_secs(1),
};

/// create-user at production's bcrypt cost (its objective: a sign-up answered within a second)
/// and at the benchmark's (how the rest of the work scales), and send-email's batches (a batch
/// done within a second).
pub const WORKLOADS: [Workload; 3] = [
    Workload {
        function: Function::CreateUser,
        cost: 12,
        objective: Some(ONE_SECOND),
    },
    Workload {
        function: Function::CreateUser,
        cost: 4,
        objective: None,
    },
    Workload {
        function: Function::SendEmail,
        cost: 4,
        objective: Some(ONE_SECOND),
    },
];

impl Workload {
    /// As the benchmark's report names it.
    pub fn label(&self, batch_size: i32) -> String {
        report::label(self.function, self.cost, batch_size)
    }

    /// Its objective in words.
    pub fn goal(&self, batch_size: i32) -> Option<String> {
        let objective = self.objective?;
        let under = format!("under {} s", objective.p99_under.as_secs_f64());
        Some(match self.function {
            Function::CreateUser => format!("warm p99 {under} at BCRYPT_COST={}", self.cost),
            Function::SendEmail => format!("p99 of a batch of {batch_size} {under}"),
        })
    }
}

/// How many cold starts and counted warm invocations one cell gets (a size, a workload, a
/// language).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iterations {
    pub cold: usize,
    pub warm: usize,
}

/// At most this size, cost 12's warm runs are halved: each hash takes 1.7 s or more, so far
/// from the 1 s objective that more samples would not change the choice.
const SMALL_MB: u64 = 256;

/// The iterations of `workload` at `memory_mb`: 3 cold starts; warm, 20 at cost 12 (10 up to
/// 256 MB), 50 at cost 4, 20 send-email batches; `quick`: 2 cold starts and 5 warm.
pub fn iterations(workload: &Workload, memory_mb: u64, quick: bool) -> Iterations {
    if quick {
        return Iterations { cold: 2, warm: 5 };
    }
    let warm = match (workload.function, workload.cost) {
        (Function::CreateUser, 12) if memory_mb <= SMALL_MB => 10,
        (Function::CreateUser, 4) => 50,
        _ => 20,
    };
    Iterations { cold: 3, warm }
}

/// The iterations as the report states them, for every workload.
pub fn iterations_described(quick: bool, batch_size: i32) -> String {
    if quick {
        let n = iterations(&WORKLOADS[0], SIZES[0], true);
        return format!(
            "`--quick`: {} cold starts and {} warm invocations per cell.",
            n.cold, n.warm
        );
    }
    let per_workload: Vec<String> = WORKLOADS
        .iter()
        .map(|w| {
            let (small, large) = (iterations(w, SIZES[0], false), iterations(w, SIZES[4], false));
            let warm = if small.warm == large.warm {
                small.warm.to_string()
            } else {
                format!("{} (up to {SMALL_MB} MB: {})", large.warm, small.warm)
            };
            format!("{}: {} cold starts, {warm} warm", w.label(batch_size), large.cold)
        })
        .collect();
    format!("Per cell: {}.", per_workload.join("; "))
}

/// One size's figures for the choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub memory_mb: u64,
    pub p99: Duration,
    /// Dollars per million invocations.
    pub cost: f64,
}

/// The cheapest of `candidates` whose p99 meets `objective` (of two that cost the same, the
/// smaller), or none when no size does.
pub fn cheapest_meeting(candidates: &[Candidate], objective: &Objective) -> Option<Candidate> {
    candidates
        .iter()
        .filter(|c| objective.met(c.p99))
        .min_by(|a, b| a.cost.total_cmp(&b.cost).then(a.memory_mb.cmp(&b.memory_mb)))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(memory_mb: u64, p99_ms: u64, cost: f64) -> Candidate {
        Candidate {
            memory_mb,
            p99: Duration::from_millis(p99_ms),
            cost,
        }
    }

    #[test]
    fn the_cheapest_size_that_meets_the_objective_is_chosen() {
        let sizes = [
            candidate(128, 3500, 6.0),
            candidate(256, 1800, 6.1),
            candidate(512, 900, 6.3),
            candidate(1024, 450, 6.4),
            candidate(1769, 260, 6.2),
        ];
        // 128 and 256 are cheaper but too slow; 1769 is cheaper than 512 and fast enough.
        assert_eq!(cheapest_meeting(&sizes, &ONE_SECOND).map(|c| c.memory_mb), Some(1769));
        assert_eq!(
            cheapest_meeting(&sizes[..3], &ONE_SECOND).map(|c| c.memory_mb),
            Some(512)
        );
        // Under, not at: a p99 of exactly the objective misses it.
        assert_eq!(cheapest_meeting(&[candidate(512, 1000, 1.0)], &ONE_SECOND), None);
        assert_eq!(cheapest_meeting(&sizes[..2], &ONE_SECOND), None, "none fast enough");
        assert_eq!(cheapest_meeting(&[], &ONE_SECOND), None);
        // The same cost: the smaller size.
        let tie = [candidate(1024, 100, 0.5), candidate(256, 300, 0.5)];
        assert_eq!(cheapest_meeting(&tie, &ONE_SECOND).map(|c| c.memory_mb), Some(256));
    }

    #[test]
    fn iterations_are_bounded_where_a_hash_is_slow() {
        let [cost12, cost4, email] = WORKLOADS;
        assert_eq!(iterations(&cost12, 128, false), Iterations { cold: 3, warm: 10 });
        assert_eq!(iterations(&cost12, 512, false), Iterations { cold: 3, warm: 20 });
        assert_eq!(iterations(&cost4, 128, false).warm, 50);
        assert_eq!(iterations(&email, 128, false).warm, 20);
        assert_eq!(iterations(&email, 1769, true), Iterations { cold: 2, warm: 5 });
        let said = iterations_described(false, 10);
        assert!(
            said.contains("create-user (BCRYPT_COST=12): 3 cold starts, 20 (up to 256 MB: 10) warm"),
            "{said}"
        );
        assert!(
            said.contains("send-email (batches of 10): 3 cold starts, 20 warm"),
            "{said}"
        );
        assert_eq!(
            (cost12.goal(10).unwrap(), cost4.goal(10), email.goal(10).unwrap()),
            (
                "warm p99 under 1 s at BCRYPT_COST=12".to_owned(),
                None,
                "p99 of a batch of 10 under 1 s".to_owned()
            )
        );
    }
}
