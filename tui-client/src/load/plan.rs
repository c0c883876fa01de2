//! What a load runs: the clients of each run, from the flags' counts or from
//! `--sweep` (each lane alone at each count).

use anyhow::bail;

use crate::cli::LoadArgs;
use crate::lane::LaneKind;

/// How many clients of each lane one run starts (lanes without clients left out).
pub type Clients = Vec<(LaneKind, usize)>;

/// The clients of every run: the flags' counts, or each lane alone at each sweep count.
pub fn plan(args: &LoadArgs, lanes: &[LaneKind]) -> anyhow::Result<Vec<Clients>> {
    if let Some(counts) = &args.sweep {
        return Ok(lanes
            .iter()
            .flat_map(|&kind| counts.iter().map(move |&n| vec![(kind, n as usize)]))
            .collect());
    }
    let clients: Clients = [
        (LaneKind::Poll, args.pollers),
        (LaneKind::LongPoll, args.longpollers),
        (LaneKind::Sse, args.sse_subscribers),
        (LaneKind::Ws, args.subscribers),
        (LaneKind::SocketIo, args.socketio_subscribers),
    ]
    .into_iter()
    .filter(|&(_, n)| n > 0)
    .collect();
    if clients.is_empty() {
        bail!(
            "nothing to load: give --pollers, --longpollers, --sse, --subscribers and/or --socketio, \
             or --sweep 10,100,1000"
        );
    }
    Ok(vec![clients])
}

/// Clients of lane `kind` in `clients`.
pub fn count(clients: &Clients, kind: LaneKind) -> usize {
    clients
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::LoadArgs;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn parse(args: &[&str]) -> Result<LoadArgs, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("load").chain(args.iter().copied())).map(|w| w.load)
    }

    #[test]
    fn a_sweep_runs_each_lane_alone_at_each_count() {
        let args = parse(&["--sweep", "10,100"]).expect("valid");
        assert_eq!(
            plan(&args, &LaneKind::DEFAULT).expect("a plan"),
            vec![
                vec![(LaneKind::Poll, 10)],
                vec![(LaneKind::Poll, 100)],
                vec![(LaneKind::Ws, 10)],
                vec![(LaneKind::Ws, 100)],
            ]
        );
        let four = plan(&args, &LaneKind::ALL).expect("a plan");
        assert_eq!(four.len(), 8);
        assert_eq!(four[2], vec![(LaneKind::LongPoll, 10)]);
    }

    #[test]
    fn every_lane_has_its_own_count() {
        let args = parse(&["--pollers", "1", "--longpollers", "2", "--sse", "3"]).expect("valid");
        assert_eq!(
            plan(&args, &LaneKind::DEFAULT).expect("a plan"),
            vec![vec![
                (LaneKind::Poll, 1),
                (LaneKind::LongPoll, 2),
                (LaneKind::Sse, 3)
            ]]
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--duration", "soon"]).is_err());
        assert!(parse(&["--format", "xml"]).is_err());
        assert!(
            parse(&["--chart", "x.svg"]).is_err(),
            "a chart needs a sweep"
        );
        assert!(parse(&["--sweep", "10", "--pollers", "3"]).is_err());
        assert!(parse(&["--sweep", "10", "--sse", "3"]).is_err());
        assert!(parse(&["--sweep", "0"]).is_err());
        let none = parse(&[]).expect("parses");
        assert!(
            plan(&none, &LaneKind::DEFAULT).is_err(),
            "no clients is nothing to do"
        );
    }
}
