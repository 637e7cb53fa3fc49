//! Login throttling: failure windows per account and per client address, each opened by its
//! first failure (no fixed boundaries to time attacks, or tests, around).

use std::net::IpAddr;

use super::{now, Core};
use crate::error::{AppError, AppResult};

/// Names the counters one login attempt touches.
pub(super) struct LoginCounters {
    account: String,
    address: Option<String>,
}

impl LoginCounters {
    /// `account` is the user id when the user exists, else the login as typed (lower-cased), so
    /// unknown and known accounts are throttled alike.
    pub fn new(account: &str, address: Option<IpAddr>) -> Self {
        Self {
            account: format!("acct:{account}"),
            address: address.map(|ip| format!("addr:{}", address_bucket(ip.to_canonical()))),
        }
    }

    fn keys(&self) -> Vec<String> {
        std::iter::once(self.account.clone())
            .chain(self.address.clone())
            .collect()
    }
}

/// IPv6 clients usually own a whole /64, so that is the unit counted.
fn address_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Core {
    /// 429 when either counter is at its bound in its open window.
    pub(super) async fn check_throttle(&self, counters: &LoginCounters) -> AppResult<()> {
        let now = now().timestamp();
        let counts = self.store.throttle_counts(&counters.keys(), now).await?;
        let limits = [
            self.config.throttle.account_max_failures,
            self.config.throttle.address_max_failures,
        ];
        let closes_at = counts
            .iter()
            .zip(limits)
            .filter(|(counter, max)| counter.count >= *max)
            .map(|(counter, _)| counter.closes_at)
            .max();
        match closes_at {
            Some(t) => Err(AppError::Throttled {
                retry_after_secs: (t - now).max(1) as u64,
            }),
            None => Ok(()),
        }
    }

    /// Counts this attempt against the account before the password is checked, so that many
    /// guesses sent at once cannot all pass the check above; 429 past the bound.
    pub(super) async fn claim_attempt(&self, counters: &LoginCounters) -> AppResult<()> {
        let now = now().timestamp();
        let window = self.config.throttle.window_secs;
        let counted = self
            .store
            .throttle_hit(std::slice::from_ref(&counters.account), now, window)
            .await?;
        match counted.first() {
            Some(c) if c.count > self.config.throttle.account_max_failures => {
                Err(AppError::Throttled {
                    retry_after_secs: (c.closes_at - now).max(1) as u64,
                })
            }
            _ => Ok(()),
        }
    }

    /// A failed attempt also counts against the client's address.
    pub(super) async fn record_failure(&self, counters: &LoginCounters) -> AppResult<()> {
        if let Some(address) = &counters.address {
            let window = self.config.throttle.window_secs;
            self.store
                .throttle_hit(std::slice::from_ref(address), now().timestamp(), window)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn reset_account(&self, counters: &LoginCounters) -> AppResult<()> {
        Ok(self.store.throttle_reset(&counters.account).await?)
    }
}
