//! Open files: the process starts with the soft limit it inherited (often 1,024), which a
//! busy proxy — connections, upstream pipes, the database, the index — can reach. Like the
//! Go runtime, the proxy raises it to the hard limit at start, and keeps its own connection
//! cap below what is left.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept for everything but client connections: upstream pipes, log files, the
/// database and the index, the unix socket.
const RESERVED: u64 = 256;

/// Raises the soft limit of open files to the hard one (or as far as the system allows);
/// returns the soft limit in force.
pub fn raise_limit() -> Option<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    // macOS refuses an unlimited soft limit; 10,240 (its OPEN_MAX) is what it takes.
    for target in [hard, hard.min(10_240)] {
        if setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
            tracing::debug!(from = soft, to = target, "raised the limit of open files");
            return Some(target);
        }
    }
    Some(soft)
}

/// The connection cap to use: `configured`, lowered when the limit of open files would not
/// leave room for it.
pub fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else {
        return configured;
    };
    // The cap plus the connections past it that still get an answer must fit.
    let overflow = u64::try_from(mcpproxy_http::OVERFLOW).unwrap_or(u64::MAX);
    let room = limit.saturating_sub(RESERVED + overflow).max(16);
    configured.min(usize::try_from(room).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_rest() {
        assert_eq!(connection_cap(1000, Some(1024)), 640);
        assert_eq!(connection_cap(1000, Some(1_048_576)), 1000);
        assert_eq!(connection_cap(1000, None), 1000);
        assert_eq!(connection_cap(1000, Some(100)), 16);
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let before = getrlimit(Resource::RLIMIT_NOFILE).unwrap().0;
        let now = raise_limit().unwrap();
        assert!(now >= before);
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap().0, now);
    }
}
