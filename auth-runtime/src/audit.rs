//! Audit logging (target `auth::audit`): a budget that keeps repeated events from flooding
//! the log.

use std::sync::atomic::{AtomicU64, Ordering};

/// At most one log line a second for one kind of event, with the number of events left out
/// since the last line: a guessing run or a flood cannot flood the log.
#[derive(Debug)]
pub(crate) struct LogBudget {
    /// The Unix second of the last line written.
    last_second: AtomicU64,
    /// Events left out since then.
    suppressed: AtomicU64,
}

impl LogBudget {
    /// A budget that allows a line at once.
    pub(crate) const fn new() -> Self {
        LogBudget { last_second: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// `Some(n)` when this event may be logged (`n`: events left out since the last line);
    /// `None` when it is left out (and counted).
    pub(crate) fn take(&self) -> Option<u64> {
        let now = chrono::Utc::now().timestamp().unsigned_abs();
        let last = self.last_second.load(Ordering::Relaxed);
        if now > last && self.last_second.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_with_the_count_of_the_rest() {
        let budget = LogBudget::new();
        assert_eq!(budget.take(), Some(0));
        assert_eq!(budget.take(), None);
        assert_eq!(budget.take(), None);
        // Next second: one line, counting the two left out.
        budget.last_second.fetch_sub(1, Ordering::Relaxed);
        assert_eq!(budget.take(), Some(2));
    }
}
