//! Login throttling: fixed windows per account and per client address.

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
            address: address.map(|ip| format!("addr:{}", address_bucket(ip))),
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
    fn window(&self) -> (i64, i64) {
        let size = self.config.throttle.window_secs;
        let t = now().timestamp();
        (t / size, size - t % size)
    }

    /// 429 when either counter is at its bound for the current window.
    pub(super) async fn check_throttle(&self, counters: &LoginCounters) -> AppResult<()> {
        let (window, remaining) = self.window();
        let counts = self
            .store
            .throttle_counts(&counters.keys(), window)
            .await?;
        let limits = [
            self.config.throttle.account_max_failures,
            self.config.throttle.address_max_failures,
        ];
        if counts.iter().zip(limits).any(|(count, max)| *count >= max) {
            return Err(AppError::Throttled {
                retry_after_secs: remaining as u64,
            });
        }
        Ok(())
    }

    pub(super) async fn record_failure(&self, counters: &LoginCounters) -> AppResult<()> {
        let (window, remaining) = self.window();
        let expires = now().timestamp() + remaining;
        Ok(self
            .store
            .throttle_hit(&counters.keys(), window, expires)
            .await?)
    }

    pub(super) async fn reset_account(&self, counters: &LoginCounters) -> AppResult<()> {
        let (window, _) = self.window();
        Ok(self.store.throttle_reset(&counters.account, window).await?)
    }
}
