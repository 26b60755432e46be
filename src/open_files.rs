//! The open-file limit a server needs. Every connection served and every delivery in flight holds
//! a file descriptor, and the soft limit a process often starts with (1,024 under systemd) is
//! below what `[limits]`'s defaults allow together (1,024 connections and 1,024 deliveries). So
//! `serve` raises the soft limit to the hard one at start, as Go's runtime and nginx's
//! `worker_rlimit_nofile` do, and says when even the hard limit is short.
//!
//! It does not own the limits themselves (`config::Limits`) nor what a lack of descriptors does
//! to a request (an accept or a connect fails and is retried like any network error).

use crate::config::Limits;

/// Descriptors kept aside for everything but connections: the store's files, listeners, the
/// watcher, plugins, logs.
const OTHER_FILES: u64 = 256;

/// The soft limit before and after [`raise`], and the hard limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit (the most the soft one can be raised to without privileges).
    pub hard: u64,
}

/// The descriptors `limits` may use at once: every connection served, every delivery in flight,
/// and [`OTHER_FILES`].
pub fn needed(limits: &Limits) -> u64 {
    (limits.max_connections + limits.delivery_in_flight) as u64 + OTHER_FILES
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (never lowers it).
pub fn raise() -> std::io::Result<OpenFiles> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the rlimit it is given, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(OpenFiles {
        before,
        now: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

/// Raises the limit for `limits` and logs what came of it: a warning, saying what to do, when
/// the limit stays below [`needed`].
pub fn raise_for(limits: &Limits) {
    let needed = needed(limits);
    match raise() {
        Ok(files) if files.now < needed => tracing::warn!(
            limit = files.now,
            needed,
            "the open-file limit is {} but [limits] max_connections + delivery_in_flight need about {needed}: \
             raise the hard limit (systemd: LimitNOFILE={needed}; a shell: ulimit -Hn) or lower those limits",
            files.now
        ),
        Ok(files) => tracing::debug!(before = files.before, now = files.now, needed, "open-file limit"),
        Err(error) => tracing::warn!(%error, needed, "could not read or raise the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_raise_the_soft_limit_to_the_hard_one() {
        let first = raise().unwrap();
        assert!(first.now >= first.before);
        assert_eq!(first.now, first.hard);
        // Raising again changes nothing.
        let again = raise().unwrap();
        assert_eq!((again.before, again.now), (first.now, first.now));
    }

    #[test]
    fn can_count_a_descriptor_for_every_connection_and_delivery() {
        let limits = Limits::default();
        assert_eq!(needed(&limits), 1024 + 1024 + 256);
        let small = Limits {
            max_connections: 10,
            delivery_in_flight: 5,
            ..Limits::default()
        };
        assert_eq!(needed(&small), 10 + 5 + 256);
    }
}
