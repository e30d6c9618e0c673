//! Catch-up from far behind: a replica that was down while the committee committed thousands of
//! blocks comes back, fetches the committed chain in ranges, and votes again, while the others
//! keep their pace.
//!
//! The committee here is four replicas with default parameters. Node 3 is crashed at the start
//! and restarted once the others have committed `LAG` blocks. Before the fix (catch-up walked
//! back one block per round trip and parked every block on the way in a buffer of 1,000) a
//! replica 1,500 blocks behind never caught up, and with a second replica crashed the committee
//! committed nothing at all.

use hotstuff_core::sim::{SimConfig, Simulation};
use hotstuff_core::{Height, NodeId, Time};
use hotstuff_tests::{commit_to, height};

/// How far behind the restarted replica is. The 10,000.
const LAG: Height = 10_000;

/// Blocks per simulated second that `node` commits over the next `window_ms`.
fn rate(sim: &mut Simulation, node: u16, window_ms: u64) -> f64 {
    let (h0, t0) = (height(sim, node), sim.now());
    if let Err(violation) = sim.run_for(window_ms) {
        panic!("{violation}");
    }
    let blocks = height(sim, node) - h0;
    blocks as f64 * 1_000.0 / sim.now().ms_since(t0) as f64
}

/// Four replicas; in the first `LAG` rounds, while node 3 is down, the leaders are 0, 1 and 2 in
/// turn, then round-robin over all four. (With round-robin
/// leaders every fourth round would time out waiting for node 3 and the committee would take an
/// hour of simulated time to get 10,000 blocks ahead; choosing leaders from the committed history,
/// so that a crashed replica stops being chosen, is a separate step.)
fn sim(seed: u64) -> Simulation {
    let leader_schedule = (0..LAG).map(|round| NodeId((round % 3) as u16)).collect();
    Simulation::new(SimConfig { nodes: 4, seed, leader_schedule, ..SimConfig::default() })
}

/// Node 3 down from the start; the others commit `LAG` blocks; then node 3 comes back. Also
/// returns node 0's commit rate (blocks per simulated second) over the 5 s before the restart:
/// the committee's usual pace while node 3 is away.
fn lagging_committee(seed: u64) -> (Simulation, f64) {
    let mut sim = sim(seed);
    sim.crash(NodeId(3));
    commit_to(&mut sim, LAG - 150, 3_600_000);
    let usual = rate(&mut sim, 0, 5_000);
    commit_to(&mut sim, LAG, 60_000);
    assert_eq!(height(&sim, 3), 0, "node 3 was down all along");
    sim.restart(NodeId(3));
    (sim, usual)
}

/// Runs until node 3 is within a few blocks of node 0; returns how long it took.
fn catch_up(sim: &mut Simulation, within_ms: u64) -> u64 {
    let start: Time = sim.now();
    let caught_up = sim.run_until(
        |s| s.view(NodeId(3)).committed_height + 3 >= s.view(NodeId(0)).committed_height,
        within_ms,
    );
    match caught_up {
        Ok(true) => {
            let took = sim.now().ms_since(start);
            println!("node 3 caught up from {LAG} blocks behind in {took} ms of simulated time");
            took
        }
        Ok(false) => panic!(
            "node 3 did not catch up within {within_ms} ms: at height {} of {}; views: {:#?}",
            height(sim, 3),
            height(sim, 0),
            sim.views()
        ),
        Err(violation) => panic!("{violation}"),
    }
}

#[test]
fn a_replica_ten_thousand_blocks_behind_catches_up_while_the_committee_keeps_its_rate() {
    let (mut sim, usual) = lagging_committee(41);
    let (start, h0) = (sim.now(), height(&sim, 0));
    let took = catch_up(&mut sim, 20_000);
    let during = (height(&sim, 0) - h0) as f64 * 1_000.0 / sim.now().ms_since(start).max(1) as f64;
    let after = rate(&mut sim, 0, 5_000);
    let fault_free = reference_rate(41);
    println!(
        "committee rate, blocks/s: {usual:.1} with node 3 down, {during:.1} while it caught up, {after:.1} after; {fault_free:.1} fault-free"
    );
    assert!(
        during >= 0.8 * usual,
        "the committee slowed down while node 3 caught up: {during:.1} blocks/s against {usual:.1} before (catch-up took {took} ms)"
    );
    assert!(
        after >= 0.8 * fault_free,
        "after the catch-up: {after:.1} blocks/s against {fault_free:.1} fault-free"
    );
    // Node 3 votes again: it keeps up from here.
    let target = height(&sim, 0) + 20;
    commit_to(&mut sim, target, 30_000);
}

#[test]
fn a_replica_ten_thousand_blocks_behind_catches_up_when_another_crashes_at_once() {
    let (mut sim, _) = lagging_committee(42);
    // f faults in all: node 2 down, node 3 far behind. Nodes 0, 1 and 3 are a quorum only once
    // node 3 has caught up and votes.
    sim.crash(NodeId(2));
    catch_up(&mut sim, 60_000);
    let target = height(&sim, 0) + 20;
    let reached =
        sim.run_until(|s| [0, 1, 3].iter().all(|i| s.view(NodeId(*i)).committed_height >= target), 60_000);
    assert!(reached.expect("no violation"), "nodes 0, 1 and 3 commit together: {:#?}", sim.views());
}

/// The fault-free pace of the same committee (all four up), over the same kind of window.
fn reference_rate(seed: u64) -> f64 {
    let mut reference = sim(seed);
    commit_to(&mut reference, 20, 60_000);
    rate(&mut reference, 0, 5_000)
}

/// The page's catch-up preset shows what it says: node 3 comes back more than `CHAIN_SYNC_GAP`
/// behind, is served a range of the committed chain, and catches up.
#[test]
fn the_catch_up_preset_catches_up_by_ranges() {
    use hotstuff_core::event::Event;
    use hotstuff_core::sim::{presets, TraceEntry};
    let preset = presets().into_iter().find(|p| p.key == "catch-up").expect("the preset exists");
    let mut scenario = preset.scenario;
    scenario.config.record_trace = true;
    let run = scenario.check().unwrap_or_else(|failure| panic!("{failure}"));
    let served: Vec<u32> = run
        .sim()
        .trace()
        .iter()
        .filter_map(|(_, entry)| match entry {
            TraceEntry::Observed(o) => match o.event {
                Event::ChainServed { blocks, to: NodeId(3), .. } if blocks > 0 => Some(blocks),
                _ => None,
            },
            _ => None,
        })
        .collect();
    println!("ranges served to node 3: {served:?}");
    assert!(!served.is_empty(), "node 3 was served a range of the committed chain");
    assert!(
        served.iter().any(|b| u64::from(*b) > hotstuff_core::consensus::CHAIN_SYNC_GAP),
        "a range longer than the gap: {served:?}"
    );
}
