//! A condition: how the clients reach the server in one panel of the map (and
//! in a plain `load` run): with which request profile, over TLS or not, in
//! which HTTP, through which emulated link. The map runs every cell once per
//! condition, so that "poll or push" is answered under each, and its reports
//! name the condition on every row. `lab`, `production` and `mobile` are
//! named bundles (`--conditions`); otherwise the flags make them.

use std::time::Duration;

use serde::Serialize;

use crate::net::HttpChoice;
use crate::net::link::LinkSpec;
use crate::net::profile::Profile;

/// One way of reaching the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// How the panel and every row name it.
    pub name: String,
    pub profile: Profile,
    /// The server serves HTTPS (a spawned or embedded one with a certificate made at start).
    pub tls: bool,
    pub http: HttpChoice,
    pub link: Option<LinkSpec>,
}

/// The names `--conditions` takes.
pub const NAMED: &[&str] = &["lab", "production", "mobile"];

/// What the reports say about a condition, beside its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionReport {
    pub name: String,
    /// `minimal`, `browser`, or the profile file.
    pub profile: String,
    pub tls: bool,
    /// `1.1`, `2`, or `alpn` (TLS's choice; 1.1 in cleartext).
    pub http: &'static str,
    /// The emulated link as `--link` takes it; null for none.
    pub link: Option<String>,
}

impl ConditionReport {
    /// A panel's title: the name, then what it bundles.
    pub fn title(&self) -> String {
        let tls = if self.tls { "TLS" } else { "cleartext" };
        let link = self.link.as_deref().unwrap_or("no added delay or loss");
        format!(
            "{}: {} profile, {tls}, HTTP {}, {link}",
            self.name, self.profile, self.http
        )
    }
}

impl Condition {
    /// A named condition: `lab`, `production` or `mobile`.
    pub fn named(name: &str) -> Result<Self, String> {
        let production = || Self {
            name: name.to_owned(),
            profile: Profile::browser(),
            tls: true,
            http: HttpChoice::H2,
            link: None,
        };
        match name {
            "lab" => Ok(Self {
                name: name.to_owned(),
                profile: Profile::default(),
                tls: false,
                http: HttpChoice::H1,
                link: None,
            }),
            "production" => Ok(production()),
            "mobile" => Ok(Self {
                link: Some(LinkSpec {
                    delay: Duration::from_millis(150),
                    loss_ppm: 10_000,
                    ..LinkSpec::default()
                }),
                ..production()
            }),
            other => Err(format!(
                "no condition {other:?}: the conditions are {}",
                NAMED.join(", ")
            )),
        }
    }

    pub fn report(&self) -> ConditionReport {
        ConditionReport {
            name: self.name.clone(),
            profile: self.profile.name().to_owned(),
            tls: self.tls,
            http: match self.http {
                HttpChoice::Auto if self.tls => "alpn",
                HttpChoice::Auto | HttpChoice::H1 => "1.1",
                HttpChoice::H2 => "2",
            },
            link: self.link.map(|l| l.to_string()),
        }
    }
}
