//! A token bucket: an allowance that refills at a steady rate up to a burst, by the milliseconds
//! of the injected clock. The inbox's allowance per sending server (`federation::inbox::rate`)
//! and the handle lookups of `/interact` per client (`http::limits`) both count with it; each
//! keeps its own buckets and reads its own `[limits]`.

/// How fast a bucket refills and how much it holds.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    /// Tokens added every `period_ms`.
    per: f64,
    period_ms: f64,
    /// The most a bucket holds, and what a new one starts with.
    burst: f64,
}

impl Rate {
    /// `n` a second, up to `burst`.
    pub fn per_second(n: usize, burst: usize) -> Rate {
        Rate {
            per: n as f64,
            period_ms: 1_000.0,
            burst: burst as f64,
        }
    }

    /// `n` a minute, up to `n`.
    pub fn per_minute(n: usize) -> Rate {
        Rate {
            per: n as f64,
            period_ms: 60_000.0,
            burst: n as f64,
        }
    }
}

/// What is left of an allowance, as of a moment.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date (clock ms).
    at_ms: i64,
}

impl Bucket {
    /// A bucket holding all `rate` allows, at `now_ms`.
    pub fn full(rate: Rate, now_ms: i64) -> Bucket {
        Bucket {
            tokens: rate.burst,
            at_ms: now_ms,
        }
    }

    /// This bucket brought up to `now_ms` (a clock that went back refills nothing).
    pub fn refilled(self, rate: Rate, now_ms: i64) -> Bucket {
        let periods = (now_ms - self.at_ms).max(0) as f64 / rate.period_ms;
        Bucket {
            tokens: (self.tokens + periods * rate.per).min(rate.burst),
            at_ms: now_ms.max(self.at_ms),
        }
    }

    /// Whether it holds all `rate` allows: forgetting it loses nothing.
    pub fn is_full(self, rate: Rate) -> bool {
        self.tokens >= rate.burst
    }

    /// `Ok` when it holds a whole token, else `Err(whole seconds until it does)`, at least 1.
    pub fn wait(self, rate: Rate) -> Result<(), u64> {
        if self.tokens >= 1.0 {
            return Ok(());
        }
        let secs = (1.0 - self.tokens) * (rate.period_ms / 1_000.0) / rate.per;
        Err((secs.ceil() as u64).max(1))
    }

    /// One token taken.
    pub fn taken(self) -> Bucket {
        Bucket {
            tokens: self.tokens - 1.0,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_refill_at_its_rate_up_to_its_burst() {
        let rate = Rate::per_second(2, 3);
        let mut b = Bucket::full(rate, 0);
        for _ in 0..3 {
            b.wait(rate).unwrap();
            b = b.taken();
        }
        assert_eq!(b.wait(rate), Err(1));
        // Half a second adds one at 2 a second; an hour adds no more than the burst.
        assert!(b.refilled(rate, 499).wait(rate).is_err());
        assert_eq!(b.refilled(rate, 500).wait(rate), Ok(()));
        assert!(b.refilled(rate, 3_600_000).is_full(rate));
        // A clock that goes back refills nothing.
        assert!(b.refilled(rate, -1_000).wait(rate).is_err());
    }

    #[test]
    fn can_say_how_long_to_wait_in_whole_seconds() {
        let rate = Rate::per_minute(10);
        let empty = (0..10).fold(Bucket::full(rate, 0), |b, _| b.taken());
        assert_eq!(empty.wait(rate), Err(6), "one every 6 s");
        assert_eq!(empty.refilled(rate, 5_999).wait(rate), Err(1));
        assert_eq!(empty.refilled(rate, 6_000).wait(rate), Ok(()));
    }
}
