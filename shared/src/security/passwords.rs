use std::sync::{Arc, OnceLock};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordCost;

/// Argon2id at OWASP's minimum (m = 19 MiB, t = 2, p = 1), run on the blocking pool.
///
/// A semaphore bounds how many hashes run at once, so a burst of logins cannot take
/// 19 MiB × N of memory or starve the blocking pool.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    cost: PasswordCost,
}

/// (memory KiB, iterations): OWASP's minimum, or the smallest argon2 accepts, which only the
/// test suite uses so that hundreds of logins do not dominate its time.
fn params(cost: PasswordCost) -> (u32, u32) {
    match cost {
        PasswordCost::Standard => (19 * 1024, 2),
        PasswordCost::Minimal => (8, 1),
    }
}

fn argon2(cost: PasswordCost) -> Argon2<'static> {
    let (memory_kib, iterations) = params(cost);
    let params =
        Params::new(memory_kib, iterations, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A real hash of a random password, computed once, checked when the user does not exist so that
/// unknown users cost the same time as wrong passwords.
fn dummy_hash(cost: PasswordCost) -> &'static str {
    static HASHES: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    HASHES[cost as usize]
        .get_or_init(|| hash_now(&super::random_secret(16), cost).unwrap_or_default())
}

fn hash_now(password: &str, cost: PasswordCost) -> anyhow::Result<String> {
    use argon2::PasswordHasher as _;
    let salt = SaltString::generate(&mut OsRng);
    argon2(cost)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hash failed: {e}"))
}

fn verify_now(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        // Parameters come from the stored hash, so older hashes keep verifying.
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new(PasswordCost::Standard)
    }
}

impl PasswordHasher {
    pub fn new(cost: PasswordCost) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            permits: Arc::new(Semaphore::new(cores * 2)),
            cost,
        }
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_owned();
        let cost = self.cost;
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || hash_now(&password, cost)).await?
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there is no user.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> anyhow::Result<bool> {
        let password = password.to_owned();
        let phc = phc.map(str::to_owned);
        let cost = self.cost;
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || match phc {
            Some(phc) => verify_now(&password, &phc),
            None => {
                verify_now(&password, dummy_hash(cost));
                false
            }
        })
        .await
        .map_err(Into::into)
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
}
