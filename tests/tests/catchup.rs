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
    backfill(&mut sim, 3, 120_000);
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

/// The batches of blocks in `node`'s commit index from height `from` on that its store lacks.
/// (Pruning also removes heights from the index: a test that wants to see the backfill at work
/// counts above what will be pruned meanwhile.)
fn batches_missing(sim: &Simulation, node: u16, from: Height) -> usize {
    use hotstuff_core::store::committed_batches;
    sim.with_store(NodeId(node), |store| {
        let batches = committed_batches(store, usize::MAX).expect("the simulator's store does not fail");
        batches
            .missing
            .iter()
            .filter(|(height, _, _)| *height >= from)
            .map(|(_, _, batches)| batches.len())
            .sum()
    })
}

/// Runs until `node`'s store holds the batches of every block in its commit index, so the
/// application reading the stream gets every committed transaction: a replica that caught up by
/// ranges (or a checkpoint) committed those blocks without their batches, and its mempool
/// fetches them afterwards. Returns how long that took. `within_ms` must be well short of the
/// time the committee takes to commit `retain_heights` blocks, after which pruning alone would
/// empty the list.
fn backfill(sim: &mut Simulation, node: u16, within_ms: u64) -> u64 {
    let start = sim.now();
    loop {
        let missing = batches_missing(sim, node, 0);
        let took = sim.now().ms_since(start);
        if missing == 0 {
            println!("node {node}'s store holds every committed batch {took} ms later");
            return took;
        }
        assert!(took < within_ms, "node {node} still lacks {missing} committed batches after {took} ms");
        if let Err(violation) = sim.run_for(500) {
            panic!("{violation}");
        }
    }
}

#[test]
fn a_replica_caught_up_by_ranges_fetches_the_batches_of_the_blocks_it_committed_even_across_a_restart() {
    let (mut sim, _) = lagging_committee(44);
    catch_up(&mut sim, 20_000);
    // Above what a second of commits prunes from node 3's index.
    let above =
        sim.with_store(NodeId(3), |store| hotstuff_core::store::first_commit(store, 0).unwrap()).unwrap()
            + 500;
    let missing = batches_missing(&sim, 3, above);
    println!("node 3 caught up lacking {missing} batches of the blocks it committed above height {above}");
    assert!(missing > 1_000, "node 3 committed the ranges without their batches: {missing} missing");
    // A restart in the middle: what is still missing is read back from the store.
    if let Err(violation) = sim.run_for(1_000) {
        panic!("{violation}");
    }
    let before = batches_missing(&sim, 3, above);
    assert!(before > 0 && before < missing, "the backfill was under way: {before} of {missing} left");
    sim.crash(NodeId(3));
    sim.restart(NodeId(3));
    backfill(&mut sim, 3, 120_000);
}

/// The fault-free pace of the same committee (all four up), over the same kind of window.
fn reference_rate(seed: u64) -> f64 {
    let mut reference = sim(seed);
    commit_to(&mut reference, 20, 60_000);
    rate(&mut reference, 0, 5_000)
}

/// Plays the page's preset `key` to its expectation (failing the test if it is not met), with
/// the trace recorded; returns the run and what each replica observed, in order.
fn play_preset(key: &str) -> (hotstuff_core::sim::Run, Vec<hotstuff_core::event::Observed>) {
    use hotstuff_core::sim::{presets, TraceEntry};
    let preset = presets().into_iter().find(|p| p.key == key).expect("the preset exists");
    let mut scenario = preset.scenario;
    scenario.config.record_trace = true;
    let run = scenario.check().unwrap_or_else(|failure| panic!("{failure}"));
    let observed = run
        .sim()
        .trace()
        .iter()
        .filter_map(|(_, entry)| match entry {
            TraceEntry::Observed(observed) => Some(observed.clone()),
            _ => None,
        })
        .collect();
    (run, observed)
}

/// The page's catch-up preset shows what it says: node 3 comes back more than `CHAIN_SYNC_GAP`
/// behind, is served a range of the committed chain, and catches up.
#[test]
fn the_catch_up_preset_catches_up_by_ranges() {
    use hotstuff_core::event::Event;
    let (_, observed) = play_preset("catch-up");
    let served: Vec<u32> = observed
        .iter()
        .filter_map(|o| match o.event {
            Event::ChainServed { blocks, to: NodeId(3), .. } if blocks > 0 => Some(blocks),
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

/// What peers keep in the checkpoint tests: the least `retain_heights` allows, a tenth of `LAG`.
const RETAIN: Height = hotstuff_core::params::RETAIN_HEIGHTS_MIN;

/// `lagging_committee` with stores pruned to `RETAIN` heights: when node 3 comes back, nobody
/// holds the blocks just above its last commit any more.
fn pruned_lagging_committee(seed: u64) -> Simulation {
    let leader_schedule = (0..LAG).map(|round| NodeId((round % 3) as u16)).collect();
    let params = hotstuff_core::Parameters { retain_heights: RETAIN, ..hotstuff_core::Parameters::default() };
    let mut sim =
        Simulation::new(SimConfig { nodes: 4, seed, leader_schedule, params, ..SimConfig::default() });
    sim.crash(NodeId(3));
    commit_to(&mut sim, LAG, 3_600_000);
    sim.restart(NodeId(3));
    sim
}

/// Pruning keeps the store flat: `RETAIN` heights of the index, about as many blocks (the
/// uncommitted ones above and a few abandoned ones besides) and about the batches those carry
/// (with the few sealed and not yet committed).
fn assert_store_holds_about_retain(sim: &Simulation, node: u16) {
    use hotstuff_core::store::{read_commits, COMMIT_PREFIX};
    let (index, blocks, batches, carried) = sim.with_store(NodeId(node), |store| {
        let carried: usize = read_commits(store, 1, usize::MAX)
            .unwrap()
            .iter()
            .map(|entry| entry.block.as_ref().map_or(0, |block| block.payload.len()))
            .sum();
        (
            store.count_prefix(COMMIT_PREFIX),
            store.count_prefix(b"block/"),
            store.count_prefix(b"batch/"),
            carried,
        )
    });
    println!(
        "node {node} holds {index} index entries, {blocks} blocks, {batches} batches ({carried} committed)"
    );
    let retain = RETAIN as usize;
    assert!((retain - 1..=retain).contains(&index), "node {node}'s index holds {index}, not {retain}");
    assert!(blocks <= retain + 50, "node {node} holds {blocks} blocks");
    assert!(batches <= carried + 50, "node {node} holds {batches} batches, {carried} of them committed");
}

#[test]
fn a_replica_further_behind_than_peers_keep_installs_a_certified_checkpoint_and_catches_up() {
    let mut sim = pruned_lagging_committee(43);
    assert_store_holds_about_retain(&sim, 0);
    catch_up(&mut sim, 60_000);
    // Its commit stream starts at the checkpoint: it never held the heights below, which the
    // others pruned long ago.
    let first = sim.with_store(NodeId(3), |store| hotstuff_core::store::first_commit(store, 1).unwrap());
    let first = first.expect("node 3 committed");
    println!("node 3's commit stream starts at height {first}");
    assert!(first > LAG - RETAIN, "a checkpoint, not a range from height 1: it starts at {first}");
    // The same blocks at the same heights as the others from there on (from where node 0 still
    // holds them: it may have pruned a few heights above `first` meanwhile).
    let theirs =
        sim.with_store(NodeId(0), |store| hotstuff_core::store::read_commits(store, first, 50).unwrap());
    let from = theirs.first().expect("node 0 holds commits above node 3's first").height;
    let ours =
        sim.with_store(NodeId(3), |store| hotstuff_core::store::read_commits(store, from, 50).unwrap());
    assert_eq!(ours.len(), 50);
    let entries = |commits: &[hotstuff_core::store::CommitEntry]| {
        commits.iter().map(|e| (e.height, e.digest)).collect::<Vec<_>>()
    };
    assert_eq!(entries(&ours), entries(&theirs));
    // It votes again, and the committee goes on with node 2 crashed: node 3 is needed for the
    // quorum.
    sim.crash(NodeId(2));
    let target = height(&sim, 0) + 20;
    let reached =
        sim.run_until(|s| [0, 1, 3].iter().all(|i| s.view(NodeId(*i)).committed_height >= target), 60_000);
    assert!(reached.expect("no violation"), "nodes 0, 1 and 3 commit together: {:#?}", sim.views());
    // (Peers keep `RETAIN` heights: about 50 s of commits.)
    backfill(&mut sim, 3, 20_000);
    assert_store_holds_about_retain(&sim, 3);
}

/// The page's checkpoint preset shows what it says: node 3 comes back further behind than its
/// peers keep history, installs a checkpoint, and commits with the others.
#[test]
fn the_checkpoint_preset_installs_a_checkpoint() {
    use hotstuff_core::event::Event;
    let (run, observed) = play_preset("checkpoint");
    let installed: Vec<(u64, u64)> = observed
        .iter()
        .filter(|o| o.node == NodeId(3))
        .filter_map(|o| match o.event {
            Event::CheckpointInstalled { from_height, height, .. } => Some((from_height, height)),
            _ => None,
        })
        .collect();
    println!("node 3 installed checkpoints (from, to): {installed:?}");
    assert_eq!(installed.len(), 1, "one checkpoint: {installed:?}");
    let (from, to) = installed[0];
    assert!(to > from + 1, "it jumped over heights nobody keeps: {from} → {to}");
    let sim = run.sim();
    assert!(height(sim, 3) + 3 >= height(sim, 0), "node 3 caught up: {:#?}", sim.views());
}
