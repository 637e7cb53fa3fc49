use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::{self, rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::PasswordCost;
use crate::error::AppError;

/// Logins that wait longer than this for a hash are better retried: a few hashes per core.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// How long the hashing memory outlives the last hash. A fresh 19 MiB buffer costs ~4,900 page
/// faults and as many zeroed pages (about a fifth of a login); kept this long, logins one after
/// another reuse warm memory, and a server at rest still holds none.
const BUFFER_LINGER: Duration = Duration::from_secs(1);

/// Argon2id at OWASP's minimum (m = 19 MiB, t = 2, p = 1), run on the blocking pool.
///
/// At most one hash per core runs at once and at most `queue` more wait; beyond that the
/// caller gets [`PasswordError::Busy`] (503), so a burst of logins can neither take
/// 19 MiB × N of memory nor queue without bound. The hashing memory is reused between hashes
/// of a burst and freed [`BUFFER_LINGER`] after the burst ends.
#[derive(Clone)]
pub struct PasswordHasher {
    slots: Arc<Slots>,
    cost: PasswordCost,
}

/// Why a hash could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every core hashes and the queue is full.
    #[error("every password hasher is busy and the queue is full")]
    Busy,
    #[error("password hashing failed: {0:#}")]
    Failed(anyhow::Error),
}

impl From<PasswordError> for AppError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Busy => AppError::Busy {
                retry_after_secs: BUSY_RETRY_AFTER_SECS,
            },
            PasswordError::Failed(e) => AppError::Internal(e),
        }
    }
}

/// The admission and running limits, and the hashing buffers of the running hashes.
struct Slots {
    /// Running plus waiting hashes: `workers + queue`.
    admitted: Arc<Semaphore>,
    admitted_max: usize,
    /// Running hashes: one per core.
    running: Arc<Semaphore>,
    /// Buffers of finished hashes, for the next ones of the same burst (at most one per core).
    buffers: Mutex<Buffers>,
    linger: Duration,
}

/// Idle hashing buffers, and a count of takes and returns: a pending release frees them only
/// if nothing was hashed since it was scheduled.
#[derive(Default)]
struct Buffers {
    idle: Vec<Vec<Block>>,
    epoch: u64,
}

/// One admitted hash: its permits, released when it is dropped.
struct Slot {
    _running: OwnedSemaphorePermit,
    _admitted: OwnedSemaphorePermit,
}

/// Every hashing worker held by a test, as if each were busy: see [`PasswordHasher::occupy`].
pub struct Occupied(#[allow(dead_code)] Vec<Slot>);

impl Slots {
    fn new(workers: usize, queue: usize, linger: Duration) -> Self {
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            admitted_max: workers + queue,
            running: Arc::new(Semaphore::new(workers)),
            buffers: Mutex::new(Buffers::default()),
            linger,
        }
    }

    /// Waits for a worker, unless the queue is full.
    async fn enter(&self) -> Result<Slot, PasswordError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| PasswordError::Failed(e.into()))?;
        Ok(Slot {
            _running: running,
            _admitted: admitted,
        })
    }

    fn take_buffer(&self) -> Vec<Block> {
        let Ok(mut buffers) = self.buffers.lock() else {
            return Vec::new();
        };
        buffers.epoch += 1;
        buffers.idle.pop().unwrap_or_default()
    }

    /// Keeps `buffer` for the next hash. The last one out schedules the release of them all
    /// after the linger, so a server at rest holds no hashing memory.
    fn give_back(self: &Arc<Self>, buffer: Vec<Block>) {
        let Ok(mut buffers) = self.buffers.lock() else {
            return;
        };
        buffers.epoch += 1;
        buffers.idle.push(buffer);
        // This hash still holds its admission permit.
        let last_out = self.admitted.available_permits() + 1 >= self.admitted_max;
        if !last_out {
            return;
        }
        let handle = tokio::runtime::Handle::try_current();
        match handle {
            Ok(handle) if !self.linger.is_zero() => {
                let (slots, epoch) = (self.clone(), buffers.epoch);
                handle.spawn(async move {
                    tokio::time::sleep(slots.linger).await;
                    slots.release_if_unused_since(epoch);
                });
            }
            _ => buffers.idle.clear(),
        }
    }

    fn release_if_unused_since(&self, epoch: u64) {
        if let Ok(mut buffers) = self.buffers.lock() {
            if buffers.epoch == epoch {
                buffers.idle = Vec::new();
            }
        }
    }
}

/// (memory KiB, iterations): OWASP's minimum, or the smallest argon2 accepts, which only the
/// test suite uses so that hundreds of logins do not dominate its time.
fn params(cost: PasswordCost) -> Params {
    let (memory_kib, iterations) = match cost {
        PasswordCost::Standard => (19 * 1024, 2),
        PasswordCost::Minimal => (8, 1),
    };
    Params::new(memory_kib, iterations, 1, None).expect("constant argon2 parameters are valid")
}

/// What argon2's `PasswordHasher::hash_password` computes, with the blocks in `memory`
/// (grown as needed) instead of a fresh allocation per hash: the same PHC string.
fn compute<'a>(
    (algorithm, version, params): (Algorithm, Version, Params),
    password: &[u8],
    salt: password_hash::Salt<'a>,
    memory: &mut Vec<Block>,
) -> password_hash::Result<PasswordHash<'a>> {
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    memory.resize(params.block_count(), Block::default());
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let hash = Output::init_with(output_len, |out| {
        Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..])?)
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: (&params).try_into()?,
        salt: Some(salt),
        hash: Some(hash),
    })
}

fn hash_now(password: &str, cost: PasswordCost, memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let scheme = (Algorithm::Argon2id, Version::V0x13, params(cost));
    compute(scheme, password.as_bytes(), salt.as_salt(), memory)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hash failed: {e}"))
}

fn verify_now(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    // Parameters come from the stored hash, so older hashes keep verifying.
    let mut matches = |stored: &PasswordHash| -> password_hash::Result<bool> {
        let (Some(salt), Some(expected)) = (stored.salt, &stored.hash) else {
            return Ok(false);
        };
        let scheme = (
            Algorithm::try_from(stored.algorithm)?,
            stored
                .version
                .map_or(Ok(Version::default()), Version::try_from)?,
            Params::try_from(stored)?,
        );
        let computed = compute(scheme, password.as_bytes(), salt, memory)?;
        // `Output`'s equality is constant-time.
        Ok(computed.hash.as_ref() == Some(expected))
    };
    PasswordHash::new(phc)
        .and_then(|stored| matches(&stored))
        .unwrap_or(false)
}

/// A real hash of a random password, computed once, checked when the user does not exist so that
/// unknown users cost the same time as wrong passwords.
fn dummy_hash(cost: PasswordCost) -> &'static str {
    static HASHES: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    HASHES[cost as usize].get_or_init(|| {
        hash_now(&super::random_secret(16), cost, &mut Vec::new()).unwrap_or_default()
    })
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new(PasswordCost::Standard)
    }
}

impl PasswordHasher {
    /// A hasher with the default queue (`Limits::default().password_queue`).
    pub fn new(cost: PasswordCost) -> Self {
        Self::with_queue(cost, crate::config::Limits::default().password_queue)
    }

    /// One hash per core, and at most `queue` callers waiting for one.
    pub fn with_queue(cost: PasswordCost, queue: usize) -> Self {
        Self::with_linger(cost, queue, BUFFER_LINGER)
    }

    fn with_linger(cost: PasswordCost, queue: usize, linger: Duration) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            slots: Arc::new(Slots::new(workers, queue, linger)),
            cost,
        }
    }

    /// Runs `work` with a hashing buffer on the blocking pool, once a worker is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let slot = self.slots.enter().await?;
        let slots = self.slots.clone();
        tokio::task::spawn_blocking(move || {
            let mut buffer = slots.take_buffer();
            let out = work(&mut buffer);
            slots.give_back(buffer);
            drop(slot);
            out
        })
        .await
        .map_err(|e| PasswordError::Failed(e.into()))
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        let cost = self.cost;
        self.run(move |memory| hash_now(&password, cost, memory))
            .await?
            .map_err(PasswordError::Failed)
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there is no user.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, PasswordError> {
        let password = password.to_owned();
        let phc = phc.map(str::to_owned);
        let cost = self.cost;
        self.run(move |memory| match phc {
            Some(phc) => verify_now(&password, &phc, memory),
            None => {
                verify_now(&password, dummy_hash(cost), memory);
                false
            }
        })
        .await
    }

    /// Holds every hashing worker until the result is dropped, as a burst of slow hashes
    /// would: for tests of the queue.
    pub async fn occupy(&self) -> Occupied {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut held = Vec::with_capacity(workers);
        for _ in 0..workers {
            held.push(self.slots.enter().await.expect("a free worker"));
        }
        Occupied(held)
    }

    /// Callers admitted and not yet finished: running plus waiting hashes.
    pub fn admitted(&self) -> usize {
        self.slots.admitted_max - self.slots.admitted.available_permits()
    }

    /// Computes the dummy hash now (at cold start) rather than on the first unknown-user login.
    pub async fn warm_up(&self) {
        let cost = self.cost;
        let _ = tokio::task::spawn_blocking(move || dummy_hash(cost)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::default();
        let phc = hasher.hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher
            .verify("correct horse battery", Some(&phc))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong horse battery", Some(&phc))
            .await
            .unwrap());
        assert!(!hasher.verify("correct horse battery", None).await.unwrap());
        assert!(!hasher.verify("x", Some("not a phc string")).await.unwrap());
    }

    #[tokio::test]
    async fn minimal_cost_hashes_still_verify_under_the_standard_hasher() {
        let cheap = PasswordHasher::new(PasswordCost::Minimal);
        let phc = cheap.hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        let standard = PasswordHasher::default();
        assert!(standard
            .verify("correct horse battery", Some(&phc))
            .await
            .unwrap());
    }

    /// The reused buffer gives argon2's own PHC string, byte for byte, and argon2 accepts it.
    #[test]
    fn phc_strings_are_argon2s_own() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let mut memory = Vec::new();
        for cost in [PasswordCost::Standard, PasswordCost::Minimal] {
            let salt = SaltString::generate(&mut OsRng);
            let scheme = (Algorithm::Argon2id, Version::V0x13, params(cost));
            let ours = compute(scheme, b"pw", salt.as_salt(), &mut memory).unwrap();
            let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(cost))
                .hash_password(b"pw", &salt)
                .unwrap();
            assert_eq!(ours.to_string(), theirs.to_string());
            assert!(verify_now("pw", &theirs.to_string(), &mut memory));
            assert!(Argon2::default().verify_password(b"pw", &ours).is_ok());
        }
        // A stored hash of another scheme (argon2i, other parameters) still verifies.
        let old = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(64, 3, 1, Some(16)).unwrap(),
        )
        .hash_password(b"pw", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify_now("pw", &old, &mut memory));
        assert!(!verify_now("pX", &old, &mut memory));
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_and_frees_when_the_workers_do() {
        let hasher = PasswordHasher::with_linger(PasswordCost::Minimal, 1, Duration::ZERO);
        let held = hasher.occupy().await;
        let queued = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash("pw").await }
        });
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        while hasher.admitted() < workers + 1 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(hasher.hash("pw").await, Err(PasswordError::Busy)));
        drop(held);
        assert!(queued.await.unwrap().is_ok());
        assert_eq!(hasher.admitted(), 0);
        assert!(hasher.slots.buffers.lock().unwrap().idle.is_empty());
    }

    fn idle_buffers(hasher: &PasswordHasher) -> usize {
        hasher.slots.buffers.lock().unwrap().idle.len()
    }

    /// Hashes one after another reuse the buffer; it is freed once none has run for the linger.
    #[tokio::test]
    async fn the_buffer_outlives_a_burst_by_the_linger_then_goes() {
        let linger = Duration::from_millis(200);
        let hasher = PasswordHasher::with_linger(PasswordCost::Minimal, 4, linger);
        hasher.hash("pw").await.unwrap();
        assert_eq!(idle_buffers(&hasher), 1);
        hasher.hash("pw").await.unwrap();
        assert_eq!(idle_buffers(&hasher), 1);
        // A release scheduled before the second hash leaves the buffer to the second's.
        tokio::time::sleep(linger / 2 + linger / 4).await;
        hasher.hash("pw").await.unwrap();
        assert_eq!(idle_buffers(&hasher), 1);
        while idle_buffers(&hasher) > 0 {
            tokio::time::sleep(linger / 4).await;
        }
        assert_eq!(hasher.admitted(), 0);
    }
}
