//! A condition: how the clients reach the server in one panel of the map (and
//! in a plain `load` run): with which request profile, over TLS or not, in
//! which HTTP, through which emulated link. The map runs every cell once per
//! condition, so that "poll or push" is answered under each, and its reports
//! name the condition on every row. `lab`, `production` and `mobile` are
//! named bundles (`--conditions`); otherwise the flags make them.

use std::time::Duration;

use anyhow::bail;
use serde::Serialize;

use crate::cli::ConnectArgs;
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

    /// The `--conditions` asked, once each, refused beside the flags they
    /// bundle.
    pub fn bundled(connect: &ConnectArgs, asked: &[Self]) -> anyhow::Result<Vec<Self>> {
        let flags = [
            ("--http", !connect.http.is_empty()),
            ("--tls", connect.tls),
            ("--profile", connect.profile.is_some()),
            ("--link", connect.link.is_some()),
        ];
        let given: Vec<&str> = flags.iter().filter(|f| f.1).map(|f| f.0).collect();
        if !given.is_empty() {
            bail!(
                "--conditions sets the profile, TLS, HTTP and link itself: drop {} or drop --conditions",
                given.join(", ")
            );
        }
        let mut conditions: Vec<Self> = Vec::new();
        for condition in asked {
            if conditions.iter().any(|c| c.name == condition.name) {
                bail!("--conditions names {:?} twice", condition.name);
            }
            conditions.push(condition.clone());
        }
        Ok(conditions)
    }

    /// The conditions the flags ask for: one per `--http` version (ALPN's
    /// choice when none is given), each over TLS with `--tls`, with
    /// `--profile` and through `--link`.
    pub fn from_flags(connect: &ConnectArgs) -> Vec<Self> {
        let versions = if connect.http.is_empty() {
            vec![HttpChoice::Auto]
        } else {
            connect.http.clone()
        };
        versions
            .into_iter()
            .map(|http| Self::ad_hoc(connect, http))
            .collect()
    }

    /// A condition named for its parts: `h2`, `tls h1.1 browser delay 150ms`.
    fn ad_hoc(connect: &ConnectArgs, http: HttpChoice) -> Self {
        let tls = connect.tls || remote_tls(connect);
        let profile = connect.profile();
        let link = connect.link;
        let version = match http {
            HttpChoice::Auto if tls => "alpn",
            HttpChoice::Auto | HttpChoice::H1 => "h1.1",
            HttpChoice::H2 => "h2",
        };
        let mut parts = vec![version.to_owned()];
        if tls {
            parts.insert(0, "tls".to_owned());
        }
        if connect.profile.is_some() {
            parts.push(profile.name().to_owned());
        }
        parts.extend(link.map(|l| l.to_string()));
        Self {
            name: parts.join(" "),
            profile,
            tls,
            http,
            link,
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

    /// The connection flags of a run under this condition.
    pub fn apply(&self, connect: &ConnectArgs) -> ConnectArgs {
        let mut connect = connect.clone();
        connect.tls = self.tls;
        connect.http = vec![self.http];
        connect.profile = Some(self.profile.clone());
        connect.link = self.link;
        connect
    }

    /// Refuses, in one line, a condition this server cannot give: TLS against
    /// a plain-text `--server`, or cleartext against an `https://` one.
    pub fn check(&self, connect: &ConnectArgs) -> anyhow::Result<()> {
        let Some(server) = &connect.server else {
            return Ok(());
        };
        match (self.tls, remote_tls(connect)) {
            (true, false) => bail!(
                "condition {:?} needs TLS, but --server {server} is plain HTTP: drop --server \
                 (the map then starts its own server, with --spawn-server as a process) or name an \
                 https:// server",
                self.name
            ),
            (false, true) => bail!(
                "condition {:?} runs in cleartext, but --server {server} is https://: drop it \
                 from the conditions or name an http:// server",
                self.name
            ),
            _ => Ok(()),
        }
    }
}

/// Whether `--server` names an `https://` server.
fn remote_tls(connect: &ConnectArgs) -> bool {
    connect
        .server
        .as_deref()
        .is_some_and(|s| s.trim_start().starts_with("https:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn connect(args: &[&str]) -> ConnectArgs {
        crate::cli::Cli::try_parse_from(std::iter::once("pollpush").chain(args.iter().copied()))
            .expect("valid flags")
            .connect
    }

    #[test]
    fn every_http_version_listed_is_a_condition_of_its_own() {
        let conditions = Condition::from_flags(&connect(&["--http", "1.1,2", "--tls"]));
        let names: Vec<&str> = conditions.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["tls h1.1", "tls h2"]);
        assert!(conditions.iter().all(|c| c.tls));
        assert_eq!(conditions[1].report().http, "2");
        let plain = Condition::from_flags(&connect(&[]));
        assert_eq!(plain.len(), 1);
        assert_eq!(
            (plain[0].name.as_str(), plain[0].report().http),
            ("h1.1", "1.1")
        );
    }

    #[test]
    fn a_condition_the_server_cannot_give_is_refused_in_one_line() {
        let flags = connect(&["--server", "http://127.0.0.1:9", "--tls"]);
        let error = Condition::from_flags(&flags)[0]
            .check(&flags)
            .expect_err("TLS against a plain server")
            .to_string();
        assert!(
            error.contains("needs TLS") && !error.contains('\n'),
            "{error}"
        );
        let flags = connect(&["--server", "https://127.0.0.1:9"]);
        let condition = &Condition::from_flags(&flags)[0];
        assert!(condition.tls && condition.check(&flags).is_ok());
        assert!(
            Condition::named("lab")
                .expect("a condition")
                .check(&flags)
                .is_err()
        );
    }
}
