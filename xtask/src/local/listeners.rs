//! Who listens on a port, as Linux's `/proc` tells: a service that answers on its port must be
//! the process xtask started. Two stacks started at the same moment (two checkouts, or a test's
//! stack beside a developer's) can both find a default port free before either binds it; the
//! loser's readiness check is then answered by the winner's service, and everything the loser
//! starts would talk to the other stack. Seen once: two benchmark stacks on one cargo lambda
//! watch port, and one stack's emails sent by the other's functions.

use std::collections::HashSet;

/// Whether a process other than `pids` listens on TCP `port` (any address, IPv4 or IPv6);
/// `None` where `/proc` cannot say (not Linux).
pub fn someone_else_listens(port: u16, pids: &[i32]) -> Option<bool> {
    let listening = listening_sockets(port)?;
    let ours: HashSet<u64> = pids.iter().flat_map(|&pid| sockets_of(pid)).collect();
    Some(listening.iter().any(|inode| !ours.contains(inode)))
}

/// The inodes of the sockets listening on `port`.
fn listening_sockets(port: u16) -> Option<HashSet<u64>> {
    let tables: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .collect();
    if tables.is_empty() {
        return None;
    }
    Some(
        tables
            .iter()
            .flat_map(|table| table.lines().skip(1))
            .filter_map(|line| listener_on(line, port))
            .collect(),
    )
}

/// A `/proc/net/tcp` line's socket inode, if it listens on `port`. Its fields: `sl`,
/// `local_address` (hex address:port), `rem_address`, `st` (`0A` is LISTEN), queues, timer,
/// retransmits, `uid`, `timeout`, `inode`.
fn listener_on(line: &str, port: u16) -> Option<u64> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (_, local_port) = fields.get(1)?.rsplit_once(':')?;
    let listening = u16::from_str_radix(local_port, 16).ok()? == port && *fields.get(3)? == "0A";
    if !listening {
        return None;
    }
    fields.get(9)?.parse().ok()
}

/// The inodes of the sockets among `pid`'s open files (`socket:[<inode>]` links).
fn sockets_of(pid: i32) -> HashSet<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_listener_of_ours_is_ours_and_of_no_one_else() {
        let listener = TcpListener::bind((local_stack::LOOPBACK, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id() as i32;
        if cfg!(target_os = "linux") {
            assert_eq!(someone_else_listens(port, &[me]), Some(false));
            // The same socket seen from a process that does not hold it: pid 1's.
            assert_eq!(someone_else_listens(port, &[1]), Some(true));
        }
        drop(listener);
        if cfg!(target_os = "linux") {
            assert_eq!(someone_else_listens(port, &[1]), Some(false));
        }
    }

    #[test]
    fn reads_proc_net_tcp_lines() {
        // 127.0.0.1:9000 listening, inode 4242; then the same port connected, not listening.
        let listen = "   0: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0";
        let established = "   1: 0100007F:2328 0100007F:D3A2 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(listener_on(listen, 9000), Some(4242));
        assert_eq!(listener_on(listen, 9001), None);
        assert_eq!(listener_on(established, 9000), None);
    }
}
