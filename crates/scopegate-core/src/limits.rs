//! Abuse limits: rates (`"30/1m"`), the generic cell rate algorithm that
//! enforces them, and who the client is when proxies stand in front.
//!
//! Pure: the caller keeps each key's state (one `u64`) and passes the time.
//! GCRA rather than a counter per window: it allows no double burst at a
//! window's edge, needs one number per key, and can be asked whether a key
//! would be refused without spending anything, which a lockout needs (a
//! locked sign-in must not even look at the password).

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::duration::{DURATION_FORMAT, format_duration, parse_duration};

/// `count` events per `per`, in a burst or spread out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

/// What a rate should look like, for error messages.
pub const RATE_FORMAT: &str = "\"COUNT/DURATION\" such as \"30/1m\" or \"5/15m\", or \"off\"";

impl Rate {
    /// `"30/1m"`, or `"off"` for no limit (`None`).
    pub fn parse(s: &str) -> Result<Option<Rate>, String> {
        if s == "off" {
            return Ok(None);
        }
        let Some((count, per)) = s.split_once('/') else {
            return Err(format!("{s:?} is not a rate; use {RATE_FORMAT}"));
        };
        let count: u32 = match count.parse() {
            Ok(n) if n > 0 && count.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("{count:?} in {s:?} is not a positive whole number")),
        };
        let per =
            parse_duration(per).ok_or_else(|| format!("{per:?} in {s:?} is not a duration; use {DURATION_FORMAT}"))?;
        Ok(Some(Rate { count, per }))
    }

    /// Nanoseconds between two events at the steady rate.
    fn interval(self) -> u64 {
        let per = u64::try_from(self.per.as_nanos()).unwrap_or(u64::MAX);
        (per / u64::from(self.count)).max(1)
    }

    /// How far ahead of now a key's next theoretical arrival may be and the
    /// event still pass: room for a burst of `count`.
    fn tolerance(self) -> u64 {
        self.interval().saturating_mul(u64::from(self.count - 1))
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.per))
    }
}

/// Refused: try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header, never 0.
    pub fn seconds(self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }
}

/// One event for a key whose state is `tat` (its theoretical arrival time,
/// in nanoseconds on the caller's clock; `None` for a key never seen or
/// forgotten) at `now`: the key's new state, or how long until it may act.
pub fn take(rate: Rate, tat: Option<u64>, now: u64) -> Result<u64, RetryAfter> {
    let tat = tat.unwrap_or(now).max(now);
    let allowed_at = tat.saturating_sub(rate.tolerance());
    if allowed_at > now {
        return Err(RetryAfter(Duration::from_nanos(allowed_at - now)));
    }
    Ok(tat.saturating_add(rate.interval()))
}

/// Whether an event now would be refused, without spending one.
pub fn peek(rate: Rate, tat: Option<u64>, now: u64) -> Result<(), RetryAfter> {
    take(rate, tat, now).map(|_| ())
}

/// Whether a key's state says nothing any more (as if never seen), so that
/// it can be forgotten.
pub fn is_spent(tat: u64, now: u64) -> bool {
    tat <= now
}

/// The address a limit counts: the client's, but an IPv6 client's /64, since
/// one host commonly holds a whole /64 and could otherwise take a fresh
/// budget per address.
pub fn limit_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// The client's address: `peer` itself, unless `peer` is a trusted proxy;
/// then the `X-Forwarded-For` values (in order of arrival) are read from the
/// right, past every trusted proxy, to the first address no trusted proxy
/// vouches for. What a trusted proxy wrote that is not an address ends the
/// walk at that proxy: it is the client as far as anyone can tell.
pub fn client_address<'a>(peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| is_trusted_proxy(*ip, trusted);
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(address) = hop.parse::<IpAddr>() else {
            return client;
        };
        client = address;
        if !is_trusted(&address) {
            return address;
        }
    }
    client
}

/// Whether `ip` (IPv4-mapped or not) is in `trusted`.
pub fn is_trusted_proxy(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&unmapped(ip)))
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The `[limits]` table: on by default, each `"off"` to disable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitSettings {
    /// Token requests per authenticated client.
    pub token_per_client: Option<Rate>,
    /// Token requests per client address.
    pub token_per_address: Option<Rate>,
    /// Sign-in attempts per client address.
    pub sign_in_per_address: Option<Rate>,
    /// Failed sign-ins per login and client address: past it that login is
    /// locked for that address only, so nobody elsewhere can lock a user out.
    pub sign_in_failures: Option<Rate>,
    /// Failed gateway and forward-auth authentications per client address.
    pub gateway_failures_per_address: Option<Rate>,
    /// Admin API requests per admin token.
    pub admin_api_per_token: Option<Rate>,
    /// RFC 7591 registrations per client address (`[clients] registration`).
    pub registration_per_address: Option<Rate>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let rate = |count, secs| {
            Some(Rate {
                count,
                per: Duration::from_secs(secs),
            })
        };
        Self {
            token_per_client: rate(600, 60),
            token_per_address: rate(600, 60),
            sign_in_per_address: rate(30, 60),
            sign_in_failures: rate(5, 15 * 60),
            gateway_failures_per_address: rate(120, 60),
            admin_api_per_token: rate(1200, 60),
            registration_per_address: rate(10, 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    const SEC: u64 = 1_000_000_000;

    fn rate(count: u32, secs: u64) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(secs),
        }
    }

    #[test]
    fn rates_are_count_slash_duration_or_off() {
        assert_eq!(Rate::parse("30/1m"), Ok(Some(rate(30, 60))));
        assert_eq!(Rate::parse("off"), Ok(None));
        for bad in [
            "", "30", "0/1m", "-1/1m", "+3/1m", "30/", "30/1x", "x/1m", "30/0s", "30 / 1m",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(rate(5, 900).to_string(), "5/15m");
    }

    #[test]
    fn a_rate_allows_its_burst_then_one_per_interval() {
        let r = rate(3, 3);
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(take(r, tat, 0).expect("within the burst"));
        }
        let refused = take(r, tat, 0).expect_err("past the burst");
        assert_eq!(refused, RetryAfter(Duration::from_secs(1)));
        assert_eq!(refused.seconds(), 1);
        assert!(peek(r, tat, SEC - 1).is_err());
        assert!(peek(r, tat, SEC).is_ok());
        // A peek spends nothing: the same answer twice.
        assert!(peek(r, tat, SEC).is_ok());
        let tat = take(r, tat, SEC).expect("one interval later");
        assert!(take(r, Some(tat), SEC).is_err());
        // After the whole period the key is as new.
        assert!(is_spent(tat, 4 * SEC));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(limit_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.1.1.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        // A stranger's own X-Forwarded-For counts for nothing.
        assert_eq!(client_address(stranger, ["203.0.113.5"], &trusted), stranger);
        // Through a trusted proxy: the rightmost address it does not vouch for.
        assert_eq!(
            client_address(proxy, ["1.2.3.4, 203.0.113.5, 10.2.2.2"], &trusted),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_address(proxy, ["1.2.3.4", "203.0.113.5"], &trusted),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        // Garbage from a trusted hop: the hop itself is the client.
        assert_eq!(client_address(proxy, ["203.0.113.5, junk"], &trusted), proxy);
        // No header, or nothing but trusted hops: the last one seen.
        assert_eq!(client_address(proxy, [], &trusted), proxy);
        assert_eq!(
            client_address(proxy, ["10.3.3.3"], &trusted),
            "10.3.3.3".parse::<IpAddr>().unwrap()
        );
        // No trusted proxies: always the peer.
        assert_eq!(client_address(proxy, ["203.0.113.5"], &[]), proxy);
    }

    proptest! {
        /// However events arrive, the ones let through fit a bucket of
        /// `count` refilled at `count` per `per`: between any two of them,
        /// at most `count` plus one per refill interval elapsed. A refused
        /// key is told the exact wait after which it is let through.
        #[test]
        fn events_let_through_fit_the_bucket(
            count in 1u32..20,
            per_secs in 1u64..100,
            gaps in proptest::collection::vec(0u64..(3 * SEC), 1..200),
        ) {
            let r = rate(count, per_secs);
            let mut tat = None;
            let mut now = 0u64;
            let mut passed: Vec<u64> = Vec::new();
            for gap in gaps {
                now += gap;
                match take(r, tat, now) {
                    Ok(next) => { tat = Some(next); passed.push(now); }
                    Err(wait) => {
                        let later = now + u64::try_from(wait.0.as_nanos()).unwrap();
                        prop_assert!(peek(r, tat, later).is_ok());
                        prop_assert!(peek(r, tat, later - 1).is_err());
                    }
                }
            }
            let interval = r.interval();
            for i in 0..passed.len() {
                for j in i..passed.len() {
                    let n = (j - i + 1) as u64;
                    prop_assert!(n <= u64::from(count) + (passed[j] - passed[i]) / interval,
                        "{n} events in {} ns at {count}/{per_secs}s", passed[j] - passed[i]);
                }
            }
        }

        /// Whatever the X-Forwarded-For says, a peer that is not a trusted
        /// proxy is the client, and the answer is always the peer or an
        /// address the header named.
        #[test]
        fn the_client_is_the_peer_or_a_named_address(
            peer in any::<[u8; 4]>(),
            hops in proptest::collection::vec(any::<[u8; 4]>(), 0..6),
        ) {
            let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
            let peer = IpAddr::from(peer);
            let header: Vec<String> = hops.iter().map(|h| IpAddr::from(*h).to_string()).collect();
            let joined = header.join(", ");
            let client = client_address(peer, [joined.as_str()], &trusted);
            if !trusted[0].contains(&peer) {
                prop_assert_eq!(client, peer);
            } else {
                prop_assert!(client == peer || header.contains(&client.to_string()));
            }
        }
    }
}
