//! One action under its timeout, retried with backoff.
//!
//! The timeout bounds the action and all its retries together: an operator reads
//! `timeout: 2m` as "this step takes at most two minutes", whatever the retry policy says.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use crate::action::StepError;
use crate::load::{Backoff, Retry};

/// How a retried action ended.
#[derive(Debug)]
pub struct Attempted<T> {
    pub result: Result<T, StepError>,
    pub attempts: u32,
}

/// The wait after attempt `failed` (1-based) failed.
pub fn delay_after(retry: &Retry, failed: u32) -> Duration {
    let base = retry.delay.0;
    match retry.backoff {
        Backoff::Fixed => base,
        Backoff::Exponential => {
            let factor = 2u32.saturating_pow(failed.saturating_sub(1));
            let delay = base.saturating_mul(factor);
            retry.max_delay.map_or(delay, |cap| delay.min(cap.0))
        }
    }
}

/// Runs `action` until it passes, attempts run out, or `timeout` ends. `on_retry` is told of
/// each failure that will be retried (for the journal) with the wait before the next attempt.
/// A check-mode "unknown" is not a failure and is never retried.
pub async fn attempt<T, F, Fut>(
    timeout: Option<Duration>,
    retry: Option<&Retry>,
    mut action: F,
    mut on_retry: impl FnMut(u32, &StepError, Duration),
) -> Attempted<T>
where
    F: FnMut(Option<Instant>) -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    let deadline = timeout.map(|t| Instant::now() + t);
    let max_attempts = retry.map_or(1, |r| r.attempts.max(1));
    let attempts = AtomicU32::new(0);
    let last_error: Mutex<Option<String>> = Mutex::new(None);

    let retried = async {
        loop {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            match action(deadline).await {
                Ok(value) => return Ok(value),
                Err(error) if error.unknown || n >= max_attempts => return Err(error),
                Err(error) => {
                    let delay = retry.map_or(Duration::ZERO, |r| delay_after(r, n));
                    on_retry(n, &error, delay);
                    *last_error.lock().expect("not poisoned") = Some(error.message);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    };
    let result = match timeout {
        None => retried.await,
        Some(limit) => match tokio::time::timeout(limit, retried).await {
            Ok(result) => result,
            Err(_) => {
                let n = attempts.load(Ordering::Relaxed);
                let mut message = format!("timed out after {}", crate::params::Duration(limit));
                if n > 1 {
                    message.push_str(&format!(" ({n} attempts)"));
                }
                if let Some(last) = last_error.lock().expect("not poisoned").take() {
                    message.push_str(&format!("; last failure: {last}"));
                }
                Err(StepError::failed(message))
            }
        },
    };
    Attempted {
        result,
        attempts: attempts.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Duration as Human;

    fn retry(attempts: u32, backoff: Backoff, max: Option<u64>) -> Retry {
        Retry {
            attempts,
            delay: Human::from_secs(1),
            backoff,
            max_delay: max.map(Human::from_secs),
        }
    }

    #[test]
    fn exponential_backoff_doubles_up_to_the_cap() {
        let r = retry(6, Backoff::Exponential, Some(5));
        let delays: Vec<u64> = (1..=5).map(|n| delay_after(&r, n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        let fixed = retry(3, Backoff::Fixed, None);
        assert_eq!(delay_after(&fixed, 4).as_secs(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_waiting_the_backoff() {
        let start = Instant::now();
        let mut waits = Vec::new();
        let mut calls = 0;
        let outcome = attempt(
            None,
            Some(&retry(5, Backoff::Exponential, None)),
            |_| {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err(StepError::failed(format!("refused #{n}")))
                    } else {
                        Ok(n)
                    }
                }
            },
            |n, e, d| waits.push((n, e.message.clone(), d.as_secs())),
        )
        .await;
        assert_eq!(outcome.result, Ok(3));
        assert_eq!(outcome.attempts, 3);
        assert_eq!(
            waits,
            [
                (1, "refused #1".to_string(), 1),
                (2, "refused #2".to_string(), 2)
            ]
        );
        // Paused time advances only by the waits: 1s + 2s.
        assert_eq!(start.elapsed().as_secs(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_bounds_all_attempts_and_reports_the_last_failure() {
        let outcome: Attempted<()> = attempt(
            Some(Duration::from_secs(10)),
            Some(&retry(100, Backoff::Fixed, None)),
            |_| async { Err(StepError::failed("connection refused")) },
            |_, _, _| {},
        )
        .await;
        let error = outcome.result.unwrap_err();
        assert!(outcome.attempts >= 10, "{}", outcome.attempts);
        assert!(
            error.message.starts_with("timed out after 10s (")
                && error
                    .message
                    .ends_with("attempts); last failure: connection refused"),
            "{}",
            error.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_is_not_retried() {
        let outcome: Attempted<()> = attempt(
            None,
            Some(&retry(3, Backoff::Fixed, None)),
            |_| async { Err(StepError::unknown("needs a real run")) },
            |_, _, _| panic!("no retry expected"),
        )
        .await;
        assert_eq!(outcome.attempts, 1);
        assert!(outcome.result.unwrap_err().unknown);
    }
}
