//! Which node of a cluster each lane talks to: index arithmetic only, kept out
//! of the network code so the rotation rules are tested without sockets.
//!
//! Every node serves the same API over one shared store, so any node will do;
//! the choices below exist to make the cluster visible.

use crate::lane::LaneKind;

/// The poll pane polls the first node (and the `n` key writes through it).
pub const POLL_NODE: usize = 0;

/// The push pane (and every streaming lane) starts on the second node, so a change made through the first
/// is seen to cross the cluster; on the only node when there is one.
pub fn push_start(count: usize) -> usize {
    usize::from(count > 1)
}

/// Where lane `kind` starts: request lanes on the poll node, streaming lanes
/// where push starts.
pub fn start(kind: LaneKind, count: usize) -> usize {
    if kind.streaming() {
        push_start(count)
    } else {
        POLL_NODE
    }
}

/// Where a lane goes after losing `current`: the next node, wrapping, so a
/// dead node is left at once and every node is tried in turn.
pub fn next_node(current: usize, count: usize) -> usize {
    (current + 1) % count.max(1)
}

/// Where a streaming lane goes after `current` dropped a working
/// connection: any other node, picked by `spread` (a random number), so a
/// dead node's clients share the survivors instead of all piling onto its
/// neighbour (whose file limit they could exceed). A failed connect then
/// moves on with [`next_node`], so every node is still tried in turn.
pub fn failover_node(current: usize, count: usize, spread: u64) -> usize {
    let others = count.saturating_sub(1).max(1) as u64;
    (current + 1 + (spread % others) as usize) % count.max(1)
}

/// The load mode's client `client` of a protocol: round-robin, so N clients
/// over K nodes put N/K (±1) on each.
pub fn for_client(client: usize, count: usize) -> usize {
    client % count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_starts_on_the_second_node_or_the_only_one() {
        assert_eq!(push_start(1), 0);
        assert_eq!(push_start(2), 1);
        assert_eq!(push_start(5), 1);
        assert_ne!(push_start(2), POLL_NODE, "two nodes: the panes differ");
    }

    #[test]
    fn the_next_node_wraps_and_a_single_node_is_its_own_next() {
        assert_eq!(next_node(1, 2), 0);
        assert_eq!(next_node(0, 2), 1);
        assert_eq!(next_node(1, 3), 2);
        assert_eq!(next_node(2, 3), 0);
        assert_eq!(next_node(0, 1), 0);
        let mut node = push_start(3);
        let visited: Vec<usize> = (0..3)
            .map(|_| {
                node = next_node(node, 3);
                node
            })
            .collect();
        assert_eq!(visited, [2, 0, 1], "every node once per round");
    }

    #[test]
    fn a_lost_node_s_clients_share_every_other_node_evenly() {
        let mut landed = [0; 4];
        for spread in 0..300 {
            landed[failover_node(2, 4, spread)] += 1;
        }
        assert_eq!(landed, [100, 100, 0, 100]);
        assert_eq!(failover_node(0, 1, 7), 0, "a single node is its own");
    }

    #[test]
    fn clients_are_spread_round_robin() {
        let mut per_node = [0; 3];
        for client in 0..10 {
            per_node[for_client(client, 3)] += 1;
        }
        assert_eq!(per_node, [4, 3, 3]);
        assert_eq!(for_client(7, 1), 0);
    }
}
