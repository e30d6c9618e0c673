//! The committee: who votes, who leads which round, and how many make a quorum.

use crate::crypto::{PublicKey, Verifier};
use crate::error::Error;
use crate::types::{NodeId, Round};
use serde::{Deserialize, Serialize};

/// One committee member as written in configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's name: its ed25519 public key.
    pub public_key: PublicKey,
}

/// The fixed set of `n = 3f + 1` replicas. A quorum is `n - f` (that is `2f + 1` when
/// `n = 3f + 1`): any two quorums intersect in at least `f + 1` nodes, so in at least one honest
/// node, which is what makes conflicting certificates impossible.
#[derive(Clone, Debug)]
pub struct Committee {
    members: Vec<Member>,
    verifiers: Vec<Verifier>,
    /// Explicit leaders of rounds `1..=len` (see [`Committee::with_leader_schedule`]); empty for
    /// plain round-robin.
    leader_schedule: Vec<NodeId>,
}

impl Committee {
    /// Builds a committee; node `i` is `members[i]`.
    pub fn new(members: Vec<Member>) -> Result<Self, Error> {
        if members.is_empty() || members.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidCommittee(format!(
                "a committee has 1..=65535 members, not {}",
                members.len()
            )));
        }
        let verifiers = members
            .iter()
            .map(|m| Verifier::new(&m.public_key))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidCommittee(format!("bad public key: {e}")))?;
        Ok(Self { members, verifiers, leader_schedule: Vec::new() })
    }

    /// The same committee with an explicit leader schedule: `schedule[i]` leads round `i + 1`,
    /// and rounds after the schedule go back to round-robin. It is part of the committee's
    /// configuration, so every replica must be given the same one (a proposal from anyone else is
    /// refused as coming from the wrong leader). Twins scenarios use it to choose each round's
    /// leader (`crate::sim::twins`); an empty schedule is plain round-robin.
    pub fn with_leader_schedule(mut self, schedule: Vec<NodeId>) -> Result<Self, Error> {
        if let Some(stranger) = schedule.iter().find(|id| !self.contains(**id)) {
            return Err(Error::InvalidCommittee(format!("leader schedule names {stranger}, not a member")));
        }
        self.leader_schedule = schedule;
        Ok(self)
    }

    /// The committee of `n` nodes whose keys derive from `seed` (simulator and page).
    pub fn from_seed(seed: u64, n: u16) -> Self {
        let members =
            (0..n).map(|i| Member { public_key: crate::KeyPair::from_seed(seed, i).public() }).collect();
        // Derived keys are valid points by construction.
        Self::new(members).expect("derived committee is valid")
    }

    /// Number of members `n`.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// All node ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.members.len()).map(|i| NodeId(i as u16))
    }

    /// The largest number of Byzantine nodes tolerated: `f = (n - 1) / 3`.
    pub fn max_faulty(&self) -> usize {
        (self.members.len() - 1) / 3
    }

    /// Votes needed for a certificate: `n - f`.
    pub fn quorum_threshold(&self) -> usize {
        self.members.len() - self.max_faulty()
    }

    /// `f + 1`: enough nodes that at least one is honest.
    pub fn validity_threshold(&self) -> usize {
        self.max_faulty() + 1
    }

    /// The leader of `round` under round-robin: each member in turn, unless a leader schedule
    /// names it. (Under [`crate::LeaderElection::Reputation`] a replica's leaders depend on its
    /// committed history: ask [`crate::Consensus::leader`].)
    pub fn leader(&self, round: Round) -> NodeId {
        self.scheduled_leader(round).unwrap_or(NodeId((round % self.members.len() as u64) as u16))
    }

    /// The leader a leader schedule names for `round`, if any (the schedule overrides any
    /// election: Twins scenarios choose each round's leader).
    pub fn scheduled_leader(&self, round: Round) -> Option<NodeId> {
        let i = usize::try_from(round.checked_sub(1)?).ok()?;
        self.leader_schedule.get(i).copied()
    }

    /// Whether `id` names a member.
    pub fn contains(&self, id: NodeId) -> bool {
        id.index() < self.members.len()
    }

    /// A member's public key.
    pub fn public_key(&self, id: NodeId) -> Option<&PublicKey> {
        self.members.get(id.index()).map(|m| &m.public_key)
    }

    /// The node whose public key this is, if any.
    pub fn id_of(&self, key: &PublicKey) -> Option<NodeId> {
        self.members.iter().position(|m| m.public_key == *key).map(|i| NodeId(i as u16))
    }

    pub(crate) fn verifier(&self, id: NodeId) -> Result<&Verifier, Error> {
        self.verifiers.get(id.index()).ok_or(Error::UnknownSigner(id))
    }

    /// The members, in order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

#[cfg(test)]
mod tests {
    use super::Committee;
    use crate::types::NodeId;

    #[test]
    fn a_leader_schedule_names_the_first_rounds_then_round_robin_resumes() {
        let committee = Committee::from_seed(1, 4).with_leader_schedule(vec![NodeId(3), NodeId(3)]).unwrap();
        let leaders: Vec<u16> = (0..6).map(|r| committee.leader(r).0).collect();
        assert_eq!(leaders, [0, 3, 3, 3, 0, 1]);
        assert!(Committee::from_seed(1, 4).with_leader_schedule(vec![NodeId(4)]).is_err());
    }
}
