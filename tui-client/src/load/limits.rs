//! Open-file limits: thousands of clients need thousands of sockets.

use anyhow::bail;

/// Descriptors kept free for everything that is not a client socket.
const SPARE: u64 = 256;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
pub fn raise_open_files() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|_| {
        rlimit::Resource::NOFILE
            .get()
            .map_or(1024, |(soft, _)| soft)
    })
}

/// Fails, before anything starts, when `clients` connections cannot be opened
/// under `limit`. An embedded server holds the other end of every connection
/// in this process too, so each client costs two descriptors.
pub fn check_open_files(clients: usize, embedded: bool, limit: u64) -> anyhow::Result<()> {
    let per_client = if embedded { 2 } else { 1 };
    let needed = clients as u64 * per_client + SPARE;
    if needed <= limit {
        return Ok(());
    }
    let most = limit.saturating_sub(SPARE) / per_client;
    let hint = if embedded {
        " With the embedded server each client needs two (both ends of its socket are in this \
         process): use --spawn-server to run the server as its own process, or fewer clients."
    } else {
        ""
    };
    bail!(
        "{clients} clients need about {needed} open files but this process may open {limit} \
         (the hard limit; raise it with `ulimit -Hn` as root), so at most {most} clients fit.{hint}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedded_server_doubles_the_descriptors_a_client_needs() {
        assert!(check_open_files(9_000, false, 10_000).is_ok());
        let error = check_open_files(9_000, true, 10_000)
            .unwrap_err()
            .to_string();
        assert!(error.contains("at most 4872 clients"), "{error}");
        assert!(error.contains("--spawn-server"), "{error}");
    }
}
