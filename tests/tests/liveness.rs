//! Liveness under crashed leaders and lossy links (issue 14).
//!
//! Under round-robin a crashed replica keeps its turn: its own round times out (nobody
//! proposes), and so does the round before it (the votes go to it, as the next leader). A commit
//! needs two certified rounds in a row, so with f of 3f + 1 replicas down a committee commits a
//! few percent of its usual rate. Leader reputation (`core/src/consensus/reputation.rs`) draws
//! leaders from the committed history instead, so crashed replicas are rarely chosen.
//!
//! Rates are in blocks per simulated second, measured by the slowest running replica after a
//! warm-up (the first rounds are round-robin: reputation needs a committed history to read).

use hotstuff_core::sim::{SimConfig, Simulation};
use hotstuff_core::{Height, LeaderElection, NodeId, Parameters};
use hotstuff_tests::{commit_to, height, run};

fn committee(nodes: u16, seed: u64, leader_election: LeaderElection) -> Simulation {
    let params = Parameters { leader_election, ..Parameters::default() };
    Simulation::new(SimConfig { nodes, seed, params, ..SimConfig::default() })
}

/// Blocks per simulated second between heights `from` and `to` of the slowest running replica.
fn rate(sim: &mut Simulation, from: Height, to: Height) -> f64 {
    commit_to(sim, from, 3_600_000);
    let start = sim.now();
    commit_to(sim, to, 3_600_000);
    (to - from) as f64 * 1_000.0 / sim.now().ms_since(start) as f64
}

/// The rate with the highest `crashed` ids down from the start, from height 100 to 500 (20 to
/// 60 under round-robin with crashes, which is some 50× slower).
fn rate_with_crashes(nodes: u16, crashed: u16, leader_election: LeaderElection, seed: u64) -> f64 {
    let mut sim = committee(nodes, seed, leader_election);
    for id in nodes - crashed..nodes {
        sim.crash(NodeId(id));
    }
    match (leader_election, crashed) {
        (LeaderElection::RoundRobin, 1..) => rate(&mut sim, 20, 60),
        _ => rate(&mut sim, 100, 500),
    }
}

/// The bar: with f crashed replicas (and no loss) the committee keeps at least 80% of its
/// fault-free rate, at n = 4, 7 and 10. (With f down the quorum is every replica still up, so the
/// slowest of them sets the pace: some slowdown is inherent.)
#[test]
fn leader_reputation_keeps_a_committee_with_f_crashed_replicas_at_80_percent_of_its_pace() {
    for nodes in [4, 7, 10] {
        let f = (nodes - 1) / 3;
        let fault_free = rate_with_crashes(nodes, 0, LeaderElection::Reputation, 1);
        let crashed = rate_with_crashes(nodes, f, LeaderElection::Reputation, 1);
        let round_robin = rate_with_crashes(nodes, f, LeaderElection::RoundRobin, 1);
        println!(
            "n = {nodes}, {f} crashed: {crashed:.1} blocks/s against {fault_free:.1} fault-free ({:.0}%); \
             round-robin {round_robin:.2} blocks/s",
            100.0 * crashed / fault_free
        );
        assert!(crashed >= 0.8 * fault_free, "n = {nodes}: {crashed:.1} blocks/s against {fault_free:.1}");
        assert!(
            crashed > 5.0 * round_robin,
            "n = {nodes}: reputation {crashed:.1}, round-robin {round_robin:.2}"
        );
    }
}

/// Reputation does not cost a healthy committee anything: within 10% of round-robin.
#[test]
fn leader_reputation_keeps_the_fault_free_pace_of_round_robin() {
    for nodes in [4, 7] {
        let reputation = rate_with_crashes(nodes, 0, LeaderElection::Reputation, 2);
        let round_robin = rate_with_crashes(nodes, 0, LeaderElection::RoundRobin, 2);
        assert!(
            reputation >= 0.9 * round_robin,
            "n = {nodes}: reputation {reputation:.1}, round-robin {round_robin:.1}"
        );
    }
}

/// A crashed replica stops leading; restarted, it votes, enters the window, and leads again
/// (its blocks commit).
#[test]
fn a_crashed_replica_is_no_longer_drawn_and_leads_again_once_restarted() {
    let mut sim = committee(4, 3, LeaderElection::Reputation);
    sim.crash(NodeId(3));
    commit_to(&mut sim, 100, 600_000);
    let views_before = sim.views();
    let rounds_before = views_before[0].round;
    let timeouts_before: u64 = views_before.iter().map(|v| v.timeouts_sent).sum();
    commit_to(&mut sim, 400, 600_000);
    let views = sim.views();
    let timeouts: u64 = views.iter().map(|v| v.timeouts_sent).sum::<u64>() - timeouts_before;
    // 300 blocks in about as many rounds; a draw of node 3 would cost two timed-out rounds.
    assert!(views[0].round - rounds_before < 320, "{} rounds for 300 blocks", views[0].round - rounds_before);
    assert!(timeouts <= 6, "{timeouts} timeouts while node 3 was down (after the warm-up)");

    sim.restart(NodeId(3));
    let proposals = sim.view(NodeId(3)).proposals;
    run(&mut sim, 30_000);
    assert!(
        sim.view(NodeId(3)).proposals > proposals,
        "node 3 proposed nothing in 30 s after its restart: {:#?}",
        sim.view(NodeId(3))
    );
    assert!(height(&sim, 3) + 3 >= height(&sim, 0), "node 3 caught up: {:#?}", sim.views());
}

/// The run: `hotstuff sim --nodes 7 --seed 424242 --blocks 300 --drop 0.05 --crash 2`,
/// f = 2 down and 5% of messages lost, so exactly a quorum is up and every lost proposal, vote
/// or batch could fail a round. Before resending (`Parameters::resend_ms`), the payload wait
/// (`payload_wait_ms`), author-first batch requests and reputation, it ran out of its 3,000 s
/// of simulated time at 243 blocks. With reputation it takes about 110 s (under round-robin,
/// about 460 s).
#[test]
fn seven_replicas_with_f_crashed_and_five_percent_loss_reach_300_blocks() {
    let params = Parameters { leader_election: LeaderElection::Reputation, ..Parameters::default() };
    let mut config = SimConfig { nodes: 7, seed: 424_242, params, ..SimConfig::default() };
    config.net.drop_ppm = 50_000;
    let mut sim = Simulation::new(config);
    for id in [5, 6] {
        sim.crash(NodeId(id));
    }
    // A quarter of the old budget (3,000 s).
    commit_to(&mut sim, 300, 750_000);
    let timeouts: u64 = sim.views().iter().map(|v| v.timeouts_sent).sum();
    println!("300 blocks in {} ms of simulated time, {timeouts} timeouts", sim.now().as_ms());
}

/// A replica that crashes while the committee runs (not from the start) is excluded once the
/// committed chain shows its failed turns: a gap of timed-out rounds whose last one it led, in a
/// block committed after the crash. From the first such commit on (plus `EXCLUDE_ROUNDS`, the
/// rule's lag) it leads no round. Before failures counted, it stayed active until its last
/// proposals and votes left the window (20 commits at n = 4), and kept being drawn. (What this
/// does not fix: until that first commit the committee loses a round in two, and the round
/// timeout doubles; see the README's *Status*.)
#[test]
fn a_replica_that_crashes_mid_run_leads_no_round_once_a_commit_shows_its_failed_turn() {
    use hotstuff_core::consensus::reputation::EXCLUDE_ROUNDS;
    for seed in [1, 2, 3, 4, 5] {
        let mut sim = committee(4, seed, LeaderElection::Reputation);
        commit_to(&mut sim, 300, 3_600_000);
        sim.crash(NodeId(3));
        let crashed_at = height(&sim, 0);
        // The rounds node 0 enters, with their leader, and the height it had then.
        let mut rounds: Vec<(u64, NodeId, u64)> = Vec::new();
        while height(&sim, 0) < crashed_at + 150 {
            assert!(sim.step().expect("no violation"), "the run goes on");
            let view = sim.view(NodeId(0));
            if rounds.last().is_none_or(|(round, _, _)| *round != view.round) {
                rounds.push((view.round, view.leader, view.committed_height));
            }
        }
        // Node 3's first turn after the crash, and the first commit after it (the chain then
        // shows the failed turn).
        let failed = rounds.iter().position(|(_, leader, _)| *leader == NodeId(3)).expect("node 3 is drawn");
        let (_, _, height_then) = rounds[failed];
        let (first_commit_round, _, _) =
            *rounds[failed..].iter().find(|(_, _, h)| *h > height_then).expect("a commit after its turn");
        let led_after: Vec<u64> = rounds
            .iter()
            .filter(|(round, leader, _)| {
                *round > first_commit_round + EXCLUDE_ROUNDS + 1 && *leader == NodeId(3)
            })
            .map(|(round, _, _)| *round)
            .collect();
        let led_before =
            rounds.iter().filter(|(_, leader, _)| *leader == NodeId(3)).count() - led_after.len();
        println!(
            "seed {seed}: first commit after the crash in round {first_commit_round}; node 3 led {led_before} rounds before, {} after (of {} rounds)",
            led_after.len(),
            rounds.len()
        );
        assert!(led_after.is_empty(), "seed {seed}: node 3 still led rounds {led_after:?}");
    }
}

/// What a crash mid-run costs before reputation stops drawing the crashed replica: until a commit
/// shows its failed turn, and for `EXCLUDE_ROUNDS` rounds after (the rule's lag), it is drawn as
/// often as any other, so its turns, and the rounds before them (whose votes go to it), fail
/// after full round timeouts that grow by a fifth once three rounds pass without a commit. At
/// n = 4, 100 commits after the crash took 7–30 s of simulated time over 30 crash points
/// (median 15 s; at the steady f-crashed pace they take 5 s). A shorter lag made it worse, not
/// better (`EXCLUDE_ROUNDS` 4: median 17 s, up to 115 s; 2: 150 s), because replicas that have
/// not committed that far fall back to round-robin and disagree on the leader. This bounds the
/// cost at the measured worst case with some room, so a change that makes it minutes fails.
#[test]
fn a_crash_mid_run_costs_the_committee_seconds_of_stalled_rounds_not_minutes() {
    let mut took = Vec::new();
    for seed in 1..=10 {
        let mut sim = committee(4, seed, LeaderElection::Reputation);
        commit_to(&mut sim, 300 + 13 * seed, 3_600_000);
        sim.crash(NodeId(3));
        let (h, t) = (height(&sim, 0), sim.now());
        commit_to(&mut sim, h + 100, 3_600_000);
        took.push(sim.now().ms_since(t));
    }
    println!("100 commits after a crash took {took:?} ms of simulated time");
    assert!(
        took.iter().all(|ms| *ms <= 45_000),
        "a crash stalled the committee: {took:?} ms for 100 commits"
    );
}
