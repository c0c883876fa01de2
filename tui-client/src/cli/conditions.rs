//! The conditions the connection flags amount to ([`Condition`]): one per
//! `--http` version with `--tls`, `--profile` and `--link`, or the named
//! bundles of `--conditions`; and the flags of a run under one of them.

use anyhow::bail;

use crate::condition::Condition;
use crate::net::HttpChoice;

use super::ConnectArgs;

impl ConnectArgs {
    /// The `--conditions` asked, once each, refused beside the flags they
    /// bundle.
    pub fn conditions_named(&self, asked: &[Condition]) -> anyhow::Result<Vec<Condition>> {
        let flags = [
            ("--http", !self.http.is_empty()),
            ("--tls", self.tls),
            ("--profile", self.profile.is_some()),
            ("--link", self.link.is_some()),
        ];
        let given: Vec<&str> = flags.iter().filter(|f| f.1).map(|f| f.0).collect();
        if !given.is_empty() {
            bail!(
                "--conditions sets the profile, TLS, HTTP and link itself: drop {} or drop --conditions",
                given.join(", ")
            );
        }
        let mut conditions: Vec<Condition> = Vec::new();
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
    pub fn conditions(&self) -> Vec<Condition> {
        let versions = if self.http.is_empty() {
            vec![HttpChoice::Auto]
        } else {
            self.http.clone()
        };
        versions
            .into_iter()
            .map(|http| self.condition(http))
            .collect()
    }

    /// A condition named for its parts: `h2`, `tls h1.1 browser delay 150ms`.
    fn condition(&self, http: HttpChoice) -> Condition {
        let tls = self.tls || self.remote_tls();
        let profile = self.profile();
        let link = self.link;
        let version = match http {
            HttpChoice::Auto if tls => "alpn",
            HttpChoice::Auto | HttpChoice::H1 => "h1.1",
            HttpChoice::H2 => "h2",
        };
        let mut parts = vec![version.to_owned()];
        if tls {
            parts.insert(0, "tls".to_owned());
        }
        if self.profile.is_some() {
            parts.push(profile.name().to_owned());
        }
        parts.extend(link.map(|l| l.to_string()));
        Condition {
            name: parts.join(" "),
            profile,
            tls,
            http,
            link,
        }
    }

    /// The connection flags of a run under this condition.
    pub fn under(&self, condition: &Condition) -> ConnectArgs {
        let mut connect = self.clone();
        connect.tls = condition.tls;
        connect.http = vec![condition.http];
        connect.profile = Some(condition.profile.clone());
        connect.link = condition.link;
        connect
    }

    /// Refuses, in one line, a condition this server cannot give: TLS against
    /// a plain-text `--server`, or cleartext against an `https://` one.
    pub fn check_condition(&self, condition: &Condition) -> anyhow::Result<()> {
        let Some(server) = &self.server else {
            return Ok(());
        };
        match (condition.tls, self.remote_tls()) {
            (true, false) => bail!(
                "condition {:?} needs TLS, but --server {server} is plain HTTP: drop --server \
                 (the map then starts its own server, with --spawn-server as a process) or name an \
                 https:// server",
                condition.name
            ),
            (false, true) => bail!(
                "condition {:?} runs in cleartext, but --server {server} is https://: drop it \
                 from the conditions or name an http:// server",
                condition.name
            ),
            _ => Ok(()),
        }
    }

    /// Whether `--server` names an `https://` server.
    fn remote_tls(&self) -> bool {
        self.server
            .as_deref()
            .is_some_and(|s| s.trim_start().starts_with("https:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn connect(args: &[&str]) -> ConnectArgs {
        Cli::try_parse_from(std::iter::once("pollpush").chain(args.iter().copied()))
            .expect("valid flags")
            .connect
    }

    #[test]
    fn every_http_version_listed_is_a_condition_of_its_own() {
        let conditions = connect(&["--http", "1.1,2", "--tls"]).conditions();
        let names: Vec<&str> = conditions.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["tls h1.1", "tls h2"]);
        assert!(conditions.iter().all(|c| c.tls));
        assert_eq!(conditions[1].report().http, "2");
        let plain = connect(&[]).conditions();
        assert_eq!(plain.len(), 1);
        assert_eq!(
            (plain[0].name.as_str(), plain[0].report().http),
            ("h1.1", "1.1")
        );
    }

    #[test]
    fn a_condition_the_server_cannot_give_is_refused_in_one_line() {
        let flags = connect(&["--server", "http://127.0.0.1:9", "--tls"]);
        let error = flags
            .check_condition(&flags.conditions()[0])
            .expect_err("TLS against a plain server")
            .to_string();
        assert!(
            error.contains("needs TLS") && !error.contains('\n'),
            "{error}"
        );
        let flags = connect(&["--server", "https://127.0.0.1:9"]);
        let condition = &flags.conditions()[0];
        assert!(condition.tls && flags.check_condition(condition).is_ok());
        assert!(
            flags
                .check_condition(&Condition::named("lab").expect("a condition"))
                .is_err()
        );
    }
}
