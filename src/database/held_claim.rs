//! A claim its holder may give back: what `Store::release_claims` needs of a `Claimed`.

use super::Claimed;

/// A claim its holder may give back (`Store::release_claims`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldClaim {
    pub task_id: i64,
    pub step_id: i64,
    pub claim_token: String,
}

impl From<&Claimed> for HeldClaim {
    fn from(c: &Claimed) -> HeldClaim {
        HeldClaim {
            task_id: c.task_id,
            step_id: c.step_id,
            claim_token: c.claim_token.clone(),
        }
    }
}
