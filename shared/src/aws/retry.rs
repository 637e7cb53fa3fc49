//! The one retry loop of the AWS adapters: a bounded number of attempts, exponential backoff
//! with full jitter between them (so racing writers spread out instead of colliding again), and
//! a predicate naming the errors worth another try. The SDK already retries throttling and
//! transient network errors on its own; this loop is for what it cannot know: a lost race on
//! a conditional write, a transaction conflict, keys a batch call left unprocessed.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::store::StoreError;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The backoff window before the second try; it doubles for each try after that.
    pub base: Duration,
    /// The largest window.
    pub cap: Duration,
}

/// The adapters' setting: 8 tries over at most ~1.3 s of waiting, most of them short.
pub(crate) const DEFAULT: Retry = Retry {
    attempts: 8,
    base: Duration::from_millis(10),
    cap: Duration::from_millis(400),
};

impl Retry {
    /// The wait before try number `attempt + 1` (after `attempt` failed tries, from 1): a random
    /// point in the window `base * 2^(attempt-1)`, capped ("full jitter").
    pub fn delay(&self, attempt: u32) -> Duration {
        let window = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.cap);
        window.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
    }

    /// Runs `op` until it succeeds, fails with an error `retryable` refuses, or all attempts
    /// are spent; then returns the last result.
    pub async fn run<T, E, Fut>(
        &self,
        mut op: impl FnMut() -> Fut,
        retryable: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut tries = self.tries();
        loop {
            match op().await {
                Err(e) if tries.again(&e, &retryable).await => {}
                result => return result,
            }
        }
    }

    /// [`run`](Self::run) for a loop of [`Step`]s: goes round on `Again`, ends with `Stop`'s
    /// error (or "kept happening" when the tries run out).
    pub async fn steps<T, E, Fut>(&self, op: impl FnMut() -> Fut) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, Step<E>>>,
        E: From<StoreError>,
    {
        self.run(op, Step::is_again).await.map_err(Step::finish)
    }

    /// A batch call that may leave part of its work undone (DynamoDB's unprocessed keys and
    /// items): `op` does `work` and returns its results with what it left, which goes round
    /// until nothing is left. `left_undone` says what kept happening if the tries run out.
    pub async fn batch<W, T, Fut>(
        &self,
        left_undone: &'static str,
        mut work: W,
        mut op: impl FnMut(W) -> Fut,
    ) -> Result<Vec<T>, StoreError>
    where
        Fut: Future<Output = Result<(Vec<T>, Option<W>), StoreError>>,
    {
        let (mut done, mut tries) = (Vec::new(), self.tries());
        loop {
            let (results, left) = op(work).await?;
            done.extend(results);
            let again = Step::Again(left_undone);
            match left {
                None => return Ok(done),
                Some(_) if !tries.again(&again, Step::is_again).await => return Err(again.finish()),
                Some(left) => work = left,
            }
        }
    }

    /// The counter of a loop that keeps state between its tries (which [`run`](Self::run)'s
    /// closure cannot lend to its future): the loop asks it after each failed try.
    pub fn tries(&self) -> Tries {
        Tries {
            policy: *self,
            done: 1,
        }
    }
}

/// The tries of one retried operation so far.
#[derive(Debug)]
pub(crate) struct Tries {
    policy: Retry,
    done: u32,
}

impl Tries {
    /// After a failed try: true (having waited the backoff) when `err` is worth another try and
    /// the tries are not spent; false when the loop should end with `err`.
    pub async fn again<E>(&mut self, err: &E, retryable: impl Fn(&E) -> bool) -> bool {
        if self.done >= self.policy.attempts || !retryable(err) {
            return false;
        }
        tokio::time::sleep(self.policy.delay(self.done)).await;
        self.done += 1;
        true
    }
}

/// The error of one try for loops whose retry condition is not an error of the SDK: `Again`
/// goes round, `Stop` ends the loop with its error.
#[derive(Debug)]
pub(crate) enum Step<E> {
    /// Worth another try; the words say what kept happening if the tries run out.
    Again(&'static str),
    Stop(E),
}

impl<E> Step<E> {
    pub fn is_again(&self) -> bool {
        matches!(self, Step::Again(_))
    }

    /// The error the loop ends with: `Stop`'s, or "kept happening" when the tries ran out.
    pub fn finish(self) -> E
    where
        E: From<StoreError>,
    {
        match self {
            Step::Again(what) => StoreError::Other(anyhow::anyhow!("{what}")).into(),
            Step::Stop(e) => e,
        }
    }
}

impl<E> From<E> for Step<E> {
    fn from(e: E) -> Self {
        Step::Stop(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Retry = Retry {
        attempts: 4,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(4),
    };

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..100 {
            assert!(FAST.delay(1) <= Duration::from_millis(1));
            assert!(FAST.delay(2) <= Duration::from_millis(2));
            assert!(FAST.delay(3) <= Duration::from_millis(4));
            assert!(FAST.delay(30) <= Duration::from_millis(4));
        }
        // Jitter: the waits are not all the same.
        let waits: std::collections::HashSet<_> = (0..50).map(|_| DEFAULT.delay(5)).collect();
        assert!(waits.len() > 1);
    }

    #[tokio::test]
    async fn retries_only_what_the_predicate_allows() {
        let mut calls = 0;
        let result: Result<u32, u32> = FAST
            .run(
                || {
                    calls += 1;
                    let n = calls;
                    async move {
                        if n < 3 {
                            Err(n)
                        } else {
                            Ok(n)
                        }
                    }
                },
                |_| true,
            )
            .await;
        assert_eq!((result, calls), (Ok(3), 3));

        let mut calls = 0;
        let result: Result<(), &str> = FAST
            .run(
                || {
                    calls += 1;
                    async { Err("fatal") }
                },
                |e| *e != "fatal",
            )
            .await;
        assert_eq!((result, calls), (Err("fatal"), 1));
    }

    #[tokio::test]
    async fn gives_up_after_the_attempts_with_the_last_error() {
        let mut calls = 0;
        let result: Result<(), Step<StoreError>> = FAST
            .run(
                || {
                    calls += 1;
                    async { Err(Step::Again("kept conflicting")) }
                },
                Step::is_again,
            )
            .await;
        assert_eq!(calls, 4);
        let err = result.unwrap_err().finish();
        assert!(matches!(err, StoreError::Other(e) if e.to_string() == "kept conflicting"));
    }

    #[tokio::test]
    async fn a_batch_goes_round_until_nothing_is_left() {
        // Each call does one unit of work and leaves the rest.
        let result = FAST
            .batch("kept leaving work", 3, |left| async move {
                Ok((vec![left], (left > 1).then_some(left - 1)))
            })
            .await;
        assert_eq!(result.unwrap(), [3, 2, 1]);

        let result = FAST
            .batch("kept leaving work", 10, |left| async move {
                Ok((vec![left], Some(left - 1)))
            })
            .await;
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::Other(e) if e.to_string() == "kept leaving work"));
    }

    #[tokio::test]
    async fn a_stateful_loop_counts_its_tries() {
        let mut tries = FAST.tries();
        let mut failures = 1;
        while tries.again(&(), |_| true).await {
            failures += 1;
        }
        assert_eq!(failures, FAST.attempts);
        assert!(!FAST.tries().again(&(), |_| false).await);
    }
}
