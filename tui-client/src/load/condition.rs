//! A condition: how the clients reach the server in one panel of the map (and
//! in a plain `load` run): over TLS or not, and in which HTTP. The map runs
//! every cell once per condition, so that "poll or push" is answered under
//! each, and its reports name the condition on every row.

use anyhow::bail;
use serde::Serialize;

use crate::cli::ConnectArgs;
use crate::net::HttpChoice;

/// One way of reaching the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// How the panel and every row name it.
    pub name: String,
    /// The server serves HTTPS (a spawned or embedded one with a certificate made at start).
    pub tls: bool,
    pub http: HttpChoice,
}

/// What the reports say about a condition, beside its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionReport {
    pub name: String,
    pub tls: bool,
    /// `1.1`, `2`, or `alpn` (TLS's choice; 1.1 in cleartext).
    pub http: &'static str,
}

impl ConditionReport {
    /// A panel's title: the name, then what it bundles.
    pub fn title(&self) -> String {
        let tls = if self.tls { "TLS" } else { "cleartext" };
        format!("{}: {tls}, HTTP {}", self.name, self.http)
    }
}

impl Condition {
    /// The conditions the flags ask for: one per `--http` version (ALPN's
    /// choice when none is given), all over TLS with `--tls`.
    pub fn from_flags(connect: &ConnectArgs) -> Vec<Self> {
        let versions = if connect.http.is_empty() {
            vec![HttpChoice::Auto]
        } else {
            connect.http.clone()
        };
        versions
            .into_iter()
            .map(|http| Self::ad_hoc(connect.tls || remote_tls(connect), http))
            .collect()
    }

    /// A condition named for its parts: `h2`, `tls h1.1`.
    fn ad_hoc(tls: bool, http: HttpChoice) -> Self {
        let version = match http {
            HttpChoice::Auto if tls => "alpn",
            HttpChoice::Auto | HttpChoice::H1 => "h1.1",
            HttpChoice::H2 => "h2",
        };
        let name = if tls {
            format!("tls {version}")
        } else {
            version.to_owned()
        };
        Self { name, tls, http }
    }

    pub fn report(&self) -> ConditionReport {
        ConditionReport {
            name: self.name.clone(),
            tls: self.tls,
            http: match self.http {
                HttpChoice::Auto if self.tls => "alpn",
                HttpChoice::Auto | HttpChoice::H1 => "1.1",
                HttpChoice::H2 => "2",
            },
        }
    }

    /// The connection flags of a run under this condition.
    pub fn apply(&self, connect: &ConnectArgs) -> ConnectArgs {
        let mut connect = connect.clone();
        connect.tls = self.tls;
        connect.http = vec![self.http];
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
            Condition::ad_hoc(false, HttpChoice::H1)
                .check(&flags)
                .is_err()
        );
    }
}
