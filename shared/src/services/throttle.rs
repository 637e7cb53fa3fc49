//! Throttling of password checks (login, change-password, delete-account), after OWASP's
//! authentication guidance: every attempt is counted *before* its hash is checked, per
//! (what was typed, client address) and per address, each in a window opened by its first
//! attempt. Past either bound the answer is 429. The same login from every address has a
//! ceiling too, but above it attempts are only delayed: an attacker elsewhere must not be able
//! to lock the owner out. A correct password gives its attempt back.

use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{now, Core};
use crate::config::{ShareConfig, ThrottleConfig};
use crate::domain::LoginKey;
use crate::error::{AppError, AppResult};

/// The counters one password check touches.
pub(super) struct Counters {
    /// What was typed (or the account) at this address: the bound the owner elsewhere never
    /// meets.
    pair: String,
    /// Everything tried from this address.
    address: Option<String>,
    /// What was typed, from every address, with its bound: none slows, never refuses (a
    /// login); a bound refuses past it (a share link, whose owner is never locked out by it).
    ceiling: Option<(String, Option<u64>)>,
    /// The pair's bound where it is not the login's (`account_max_failures`).
    pair_max: Option<u64>,
}

impl Counters {
    /// A login: keyed by the login as typed, normalized as the account lookup normalizes it
    /// (so `Alice` and `alice` share a counter) but never resolved to the account, so a
    /// username and an email cannot be told to belong together. Hashed: people type passwords
    /// into the login field, and counters are stored.
    pub fn login(login: &str, client: Option<IpAddr>) -> Self {
        let typed = match LoginKey::of(login) {
            LoginKey::Username(name) => format!("username:{name}"),
            LoginKey::Email(address) => format!("email:{address}"),
        };
        let typed = format!(
            "login:{}",
            &hex::encode(Sha256::digest(typed.as_bytes()))[..32]
        );
        Self::new(typed, client, true)
    }

    /// A password confirmation by a signed-in user (change-password, delete-account).
    pub fn account(user_id: &str, client: Option<IpAddr>) -> Self {
        Self::new(format!("confirm:{user_id}"), client, false)
    }

    /// A share link's password: per (share, address), the address's budget of password
    /// guesses shared with logins, and a refusing ceiling per share across addresses (nobody
    /// is locked out of an account by it: the owner manages shares signed in).
    pub fn share(share_id: &str, client: Option<IpAddr>, limits: &ShareConfig) -> Self {
        let mut counters = Self::new(format!("share:{share_id}"), client, false);
        counters.pair_max = Some(limits.max_failures);
        counters.ceiling = Some((
            format!("share:{share_id}"),
            Some(limits.max_failures_per_share),
        ));
        counters
    }

    fn new(subject: String, client: Option<IpAddr>, ceiling: bool) -> Self {
        let bucket = client.map(address_bucket);
        Self {
            pair: format!("{subject}@{}", bucket.as_deref().unwrap_or("unknown")),
            address: bucket.map(|b| format!("addr:{b}")),
            ceiling: ceiling.then_some((subject, None)),
            pair_max: None,
        }
    }

    /// Every counter an attempt takes, with the bound past which it refuses (none for the
    /// ceiling, which only slows).
    fn taken(&self, limits: &ThrottleConfig) -> Vec<(String, Option<u64>)> {
        let pair_max = self.pair_max.unwrap_or(limits.account_max_failures);
        let pair = (self.pair.clone(), Some(pair_max));
        let address = self
            .address
            .clone()
            .map(|a| (a, Some(limits.address_max_failures)));
        let ceiling = self.ceiling.clone();
        std::iter::once(pair)
            .chain(address)
            .chain(ceiling)
            .collect()
    }

    /// The keys of [`taken`](Self::taken), pair first.
    fn keys(&self) -> Vec<String> {
        std::iter::once(self.pair.clone())
            .chain(self.address.clone())
            .chain(self.ceiling.clone().map(|(c, _)| c))
            .collect()
    }
}

/// The counter of unknown share ids asked for from one address (id guessing).
fn share_miss_key(client: IpAddr) -> String {
    format!("share-miss:{}", address_bucket(client))
}

/// Every visitor request from one address, to any link.
fn share_request_key(client: IpAddr) -> String {
    format!("share-req:{}", address_bucket(client))
}

/// The mark of a counted download of one version (`etag`) of a share's file to one address:
/// its resumes take no use while it lasts.
fn share_download_key(share_id: &str, client: IpAddr, etag: &str) -> String {
    format!("share-dl:{share_id}:{}:{etag}", address_bucket(client))
}

/// What a client is counted as: its address, IPv4-mapped IPv6 as IPv4, and IPv6 per /64 (a
/// client usually owns a whole /64).
fn address_bucket(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The delay before an attempt that is `count`th for its login across addresses: none up to
/// `slowdown_after`, then 100 ms doubling with each further attempt, up to `max_delay_ms`.
fn slowdown(count: u64, limits: &ThrottleConfig) -> Duration {
    let excess = count.saturating_sub(limits.slowdown_after);
    if excess == 0 {
        return Duration::ZERO;
    }
    let ms = 100u64.saturating_mul(1 << (excess - 1).min(20));
    Duration::from_millis(ms.min(limits.max_delay_ms))
}

/// How a checked password turned out, for [`Core::settle_attempt`].
enum Outcome {
    /// The right password: the attempt is given back, and the (login, address) count cleared.
    Correct,
    /// A wrong password: the attempt stays counted.
    Wrong,
    /// No password was checked (the hashers were busy, a store failed): nothing counts.
    Unchecked,
}

impl Core {
    /// Counts an attempt before its password is checked. The increments are atomic, so of any
    /// number of attempts at once no more than a bound see a count within it; the others get
    /// 429 with the seconds until the refusing window closes, and give back the counts they
    /// took without refusing (a refused attempt is not a failure). An attempt over the login's
    /// ceiling waits first.
    async fn claim_attempt(&self, counters: &Counters) -> AppResult<()> {
        let limits = &self.config.throttle;
        let now = now().timestamp();
        let (keys, bounds): (Vec<String>, Vec<Option<u64>>) =
            counters.taken(limits).into_iter().unzip();
        let counts = self
            .store
            .throttle_hit(&keys, now, limits.window_secs)
            .await?;
        let over: Vec<bool> = (counts.iter().zip(&bounds))
            .map(|(c, max)| max.is_some_and(|max| c.count > max))
            .collect();
        let closes_at = (counts.iter().zip(&over))
            .filter(|(_, over)| **over)
            .map(|(c, _)| c.closes_at)
            .max();
        if let Some(closes_at) = closes_at {
            let within: Vec<String> = (keys.into_iter().zip(&over))
                .filter(|(_, over)| !**over)
                .map(|(k, _)| k)
                .collect();
            // The answer stays 429 with its `Retry-After` even if giving back fails: the
            // counts then close with their window.
            if let Err(e) = self.store.throttle_release(&within, now).await {
                tracing::warn!(error = %e, "refused attempt stays counted");
            }
            // Another attempt may have opened the window a second later than this one read
            // the clock: never more than a window.
            let wait = (closes_at - now).clamp(1, limits.window_secs.max(1));
            return Err(AppError::Throttled {
                retry_after_secs: wait as u64,
            });
        }
        let ceiling = (counts.iter().zip(&bounds)).find(|(_, max)| max.is_none());
        let delay = slowdown(ceiling.map_or(0, |(c, _)| c.count), limits);
        if !delay.is_zero() {
            tracing::info!(delay_ms = delay.as_millis() as u64, "password check slowed");
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }

    /// Settles a claimed attempt once its password was checked (or not).
    async fn settle_attempt(&self, counters: &Counters, outcome: Outcome) -> AppResult<()> {
        let now = now().timestamp();
        match outcome {
            Outcome::Wrong => Ok(()),
            Outcome::Correct => {
                let others: Vec<String> = counters.keys().into_iter().skip(1).collect();
                tokio::try_join!(
                    self.store.throttle_reset(&counters.pair),
                    self.store.throttle_release(&others, now),
                )?;
                Ok(())
            }
            Outcome::Unchecked => Ok(self.store.throttle_release(&counters.keys(), now).await?),
        }
    }

    /// Counts a lookup of a share id from this address as a miss before it runs, atomically,
    /// so of any number at once no more than the bound get past: 429 beyond it (that lookup
    /// is given back: a refused request is no miss). A found link gives its count back with
    /// [`Self::release_share_lookup`]. The same step counts the address's visitor requests,
    /// which nothing gives back: public routes are rate-limited per address even on a live
    /// link. No address, no bound (as logins).
    pub(super) async fn claim_share_lookup(&self, client: Option<IpAddr>) -> AppResult<()> {
        let Some(client) = client else { return Ok(()) };
        let now = now().timestamp();
        let window = self.config.throttle.window_secs;
        let keys = [share_miss_key(client), share_request_key(client)];
        let counts = self.store.throttle_hit(&keys, now, window).await?;
        let shares = &self.config.shares;
        let bounds = [
            shares.max_misses_per_address,
            shares.max_requests_per_address,
        ];
        let over = counts
            .iter()
            .zip(bounds)
            .filter(|(count, max)| count.count > *max)
            .map(|(count, _)| count.closes_at)
            .max();
        let Some(closes_at) = over else {
            return Ok(());
        };
        if let Err(e) = self.store.throttle_release(&keys, now).await {
            tracing::warn!(error = %e, "a refused share lookup stays counted");
        }
        Err(AppError::Throttled {
            retry_after_secs: (closes_at - now).clamp(1, window.max(1)) as u64,
        })
    }

    /// Gives back the miss [`Self::claim_share_lookup`] counted, for a lookup that found its
    /// link (or failed). The visitor's request goes on: a failure only leaves one miss too
    /// many until the window closes.
    pub(super) async fn release_share_lookup(&self, client: Option<IpAddr>) {
        let Some(client) = client else { return };
        let keys = [share_miss_key(client)];
        if let Err(e) = self.store.throttle_release(&keys, now().timestamp()).await {
            tracing::warn!(error = %e, "a found share stays counted as a miss");
        }
    }

    /// Marks a counted local download of version `etag` of share `share_id` as started at
    /// `client`, for the transfer URL lifetime (what a presigned URL on AWS grants). A later
    /// download renews the mark. No address, no mark: every download from it counts.
    pub(super) async fn mark_share_download(
        &self,
        share_id: &str,
        client: Option<IpAddr>,
        etag: &str,
    ) {
        let Some(client) = client else { return };
        let key = share_download_key(share_id, client, etag);
        let ttl = self.config.transfer_url_ttl_secs;
        let keys = [key.clone()];
        let mut marked = self.store.throttle_hit(&keys, now().timestamp(), ttl).await;
        // An older mark's window closes early: open a fresh one.
        if matches!(&marked, Ok(c) if c.first().is_some_and(|c| c.count > 1)) {
            marked = match self.store.throttle_reset(&key).await {
                Ok(()) => self.store.throttle_hit(&keys, now().timestamp(), ttl).await,
                Err(e) => Err(e),
            };
        }
        // The download itself was counted and is served: without its mark, a resume counts
        // one use more.
        if let Err(e) = marked {
            tracing::warn!(error = %e, "share download not marked as started");
        }
    }

    /// True when a counted download of version `etag` of share `share_id` started at
    /// `client` within the transfer URL lifetime (see [`Self::mark_share_download`]).
    pub(super) async fn share_download_started(
        &self,
        share_id: &str,
        client: Option<IpAddr>,
        etag: &str,
    ) -> AppResult<bool> {
        let Some(client) = client else {
            return Ok(false);
        };
        let keys = [share_download_key(share_id, client, etag)];
        let counts = self.store.throttle_counts(&keys, now().timestamp()).await?;
        Ok(counts.first().is_some_and(|c| c.count > 0))
    }

    /// Runs a password check `check` (true: the right password) under the throttle: claimed
    /// before, settled after. An error of the check (503 `busy`, a store failure) counts as
    /// nothing and is answered as it is.
    pub(super) async fn throttled<T>(
        &self,
        counters: &Counters,
        check: impl std::future::Future<Output = AppResult<(T, bool)>>,
    ) -> AppResult<(T, bool)> {
        self.claim_attempt(counters).await?;
        match check.await {
            Ok((value, correct)) => {
                let outcome = if correct {
                    Outcome::Correct
                } else {
                    Outcome::Wrong
                };
                self.settle_attempt(counters, outcome).await?;
                Ok((value, correct))
            }
            Err(err) => {
                if let Err(release) = self.settle_attempt(counters, Outcome::Unchecked).await {
                    tracing::warn!(error = %release, "an unchecked attempt stays counted");
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ThrottleConfig {
        ThrottleConfig {
            account_max_failures: 5,
            address_max_failures: 50,
            window_secs: 900,
            slowdown_after: 20,
            max_delay_ms: 3000,
        }
    }

    #[test]
    fn the_slowdown_grows_and_is_capped() {
        let l = limits();
        assert_eq!(slowdown(0, &l), Duration::ZERO);
        assert_eq!(slowdown(20, &l), Duration::ZERO);
        assert_eq!(slowdown(21, &l), Duration::from_millis(100));
        assert_eq!(slowdown(22, &l), Duration::from_millis(200));
        assert_eq!(slowdown(24, &l), Duration::from_millis(800));
        assert_eq!(slowdown(26, &l), Duration::from_millis(3000));
        assert_eq!(slowdown(u64::MAX, &l), Duration::from_millis(3000));
    }

    #[test]
    fn addresses_are_counted_per_client() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(address_bucket(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(address_bucket(ip("::ffff:203.0.113.9")), "203.0.113.9");
        assert_eq!(
            address_bucket(ip("2001:db8:1:2:aaaa::1")),
            address_bucket(ip("2001:db8:1:2:ffff::2"))
        );
        assert_ne!(
            address_bucket(ip("2001:db8:1:2::1")),
            address_bucket(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn a_share_counts_per_address_and_refuses_at_its_ceiling() {
        let shares = ShareConfig {
            max_failures: 3,
            max_failures_per_share: 7,
            ..ShareConfig::default()
        };
        let ip = "203.0.113.9".parse().ok();
        let taken = Counters::share("s1", ip, &shares).taken(&limits());
        assert_eq!(
            taken,
            vec![
                ("share:s1@203.0.113.9".to_owned(), Some(3)),
                ("addr:203.0.113.9".to_owned(), Some(50)),
                ("share:s1".to_owned(), Some(7)),
            ]
        );
        // A login's ceiling only slows.
        let login = Counters::login("alice", ip).taken(&limits());
        assert_eq!(login[0].1, Some(5));
        assert_eq!(login[2].1, None);
    }

    #[test]
    fn a_started_download_is_marked_per_link_address_and_version() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            share_download_key("s1", ip("203.0.113.9"), "\"e1\""),
            "share-dl:s1:203.0.113.9:\"e1\""
        );
        // One client's /64 is one address, as for every other counter.
        assert_eq!(
            share_download_key("s1", ip("2001:db8:1:2::1"), "e"),
            share_download_key("s1", ip("2001:db8:1:2:ff::2"), "e")
        );
    }

    #[test]
    fn what_was_typed_is_the_key_not_the_account() {
        let a = Counters::login("Alice", None);
        let b = Counters::login("alice", None);
        let c = Counters::login("alice@example.com", None);
        assert_eq!(a.pair, b.pair);
        assert_ne!(a.pair, c.pair);
        assert_ne!(a.ceiling, c.ceiling);
        // What was typed is never stored as it is.
        assert!(!a.pair.contains("alice"), "{}", a.pair);
    }
}
