//! What an admin key may do to other keys: never give a key more than it
//! has itself. Without this rule an admin key limited to one project, or to
//! the test environment, could mint an unrestricted live admin key.
//!
//! The rule, for the key `actor` creating, changing, rotating or revoking a
//! key `target` (checked on the target as it is and as it would become):
//! - scopes: every scope of the target is granted by the actor;
//! - resources: an actor limited to resources can only touch keys limited
//!   to some of those same resources (a target with no resources is
//!   unlimited, so it is out of reach);
//! - environment: a `live` actor reaches every environment; a `test` or
//!   `staging` actor only its own.
//!
//! Account-wide changes (rotation policy, business hours, countries) need an
//! unrestricted actor: a live admin key with no resources.

use crate::key::Environment;
use crate::scope::{Resource, ScopeSet};

/// The privileges of one key, as this rule sees them.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    pub environment: Environment,
    pub scopes: &'a ScopeSet,
    pub resources: &'a [Resource],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Escalation {
    #[error("this admin key cannot grant the scope {0}")]
    Scope(crate::scope::Scope),
    #[error("this admin key is limited to resources, so every key it manages must be limited to some of them")]
    Unlimited,
    #[error("this admin key is not granted the resource {0}")]
    Resource(String),
    #[error("this admin key is for the {actor} environment and cannot manage {target} keys")]
    Environment {
        actor: &'static str,
        target: &'static str,
    },
    #[error(
        "account settings can only be changed with a live admin key that has no resource limits"
    )]
    AccountWide,
}

impl Grant<'_> {
    /// No resource limit and the live environment: can do anything an admin can.
    pub fn is_unrestricted(&self) -> bool {
        self.resources.is_empty() && self.environment == Environment::Live
    }

    /// Ok when `target` has nothing this grant lacks.
    pub fn covers(&self, target: &Grant<'_>) -> Result<(), Escalation> {
        if let Some(s) = target
            .scopes
            .as_slice()
            .iter()
            .find(|s| !self.scopes.grants(**s))
        {
            return Err(Escalation::Scope(*s));
        }
        if !self.resources.is_empty() {
            if target.resources.is_empty() {
                return Err(Escalation::Unlimited);
            }
            if let Some(r) = target
                .resources
                .iter()
                .find(|r| !self.resources.contains(r))
            {
                return Err(Escalation::Resource(r.to_string()));
            }
        }
        if self.environment != Environment::Live && self.environment != target.environment {
            return Err(Escalation::Environment {
                actor: self.environment.as_str(),
                target: target.environment.as_str(),
            });
        }
        Ok(())
    }

    /// Ok when this grant may change account-wide settings.
    pub fn may_change_account(&self) -> Result<(), Escalation> {
        if self.is_unrestricted() {
            Ok(())
        } else {
            Err(Escalation::AccountWide)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;
    use proptest::prelude::*;

    fn res(list: &[&str]) -> Vec<Resource> {
        list.iter().map(|r| r.parse().unwrap()).collect()
    }

    fn grant<'a>(env: Environment, scopes: &'a ScopeSet, resources: &'a [Resource]) -> Grant<'a> {
        Grant {
            environment: env,
            scopes,
            resources,
        }
    }

    #[test]
    fn the_matrix() {
        let admin = ScopeSet::new(vec![Scope::Admin]);
        let read = ScopeSet::new(vec![Scope::Read]);
        let rw = ScopeSet::new(vec![Scope::Read, Scope::Write]);
        let none: Vec<Resource> = vec![];
        let alpha = res(&["project:alpha"]);
        let beta = res(&["project:beta"]);
        let both = res(&["project:alpha", "project:beta"]);
        use Environment::*;

        // An unrestricted live admin reaches everything.
        let root = grant(Live, &admin, &none);
        for env in Environment::ALL {
            for r in [&none, &alpha, &both] {
                assert_eq!(root.covers(&grant(env, &admin, r)), Ok(()));
            }
        }
        // Limited to alpha: only keys limited to alpha.
        let a = grant(Live, &admin, &alpha);
        assert_eq!(a.covers(&grant(Live, &read, &alpha)), Ok(()));
        assert_eq!(a.covers(&grant(Test, &admin, &alpha)), Ok(()));
        assert_eq!(
            a.covers(&grant(Live, &admin, &none)),
            Err(Escalation::Unlimited)
        );
        assert_eq!(
            a.covers(&grant(Live, &rw, &beta)),
            Err(Escalation::Resource("project:beta".into()))
        );
        assert!(a.covers(&grant(Live, &rw, &both)).is_err());
        // Test environment: only test keys.
        let t = grant(Test, &admin, &none);
        assert_eq!(t.covers(&grant(Test, &admin, &none)), Ok(()));
        assert!(matches!(
            t.covers(&grant(Live, &read, &none)),
            Err(Escalation::Environment { .. })
        ));
        assert!(t.covers(&grant(Staging, &read, &alpha)).is_err());
        // A read key grants no write (not reachable through the API, where
        // only admin keys manage keys, but the rule holds on its own).
        assert_eq!(
            grant(Live, &read, &none).covers(&grant(Live, &rw, &none)),
            Err(Escalation::Scope(Scope::Write))
        );
        assert_eq!(root.may_change_account(), Ok(()));
        assert_eq!(a.may_change_account(), Err(Escalation::AccountWide));
        assert_eq!(t.may_change_account(), Err(Escalation::AccountWide));
    }

    fn any_grant() -> impl Strategy<Value = (Environment, Vec<Scope>, Vec<String>)> {
        (
            prop::sample::select(Environment::ALL.to_vec()),
            prop::collection::vec(prop::sample::select(Scope::ALL.to_vec()), 1..3),
            prop::collection::vec(
                prop::sample::select(vec!["project:a", "project:b", "domain:c.com"])
                    .prop_map(str::to_string),
                0..3,
            ),
        )
    }

    proptest! {
        /// Whatever passes the rule is reachable by nothing more than the
        /// actor: every scope granted, every resource the actor's, and no
        /// environment beyond it. And the rule is transitive: what a covered
        /// key covers, the actor covers too.
        #[test]
        fn covered_keys_never_exceed_the_actor(a in any_grant(), b in any_grant(), c in any_grant()) {
            let (sa, sb, sc) = (ScopeSet::new(a.1), ScopeSet::new(b.1), ScopeSet::new(c.1));
            let (ra, rb, rc): (Vec<Resource>, Vec<Resource>, Vec<Resource>) = (
                a.2.iter().map(|r| r.parse().unwrap()).collect(),
                b.2.iter().map(|r| r.parse().unwrap()).collect(),
                c.2.iter().map(|r| r.parse().unwrap()).collect(),
            );
            let (ga, gb, gc) = (grant(a.0, &sa, &ra), grant(b.0, &sb, &rb), grant(c.0, &sc, &rc));
            if ga.covers(&gb).is_ok() {
                for s in gb.scopes.as_slice() {
                    prop_assert!(ga.scopes.grants(*s));
                }
                if !ra.is_empty() {
                    prop_assert!(!rb.is_empty() && rb.iter().all(|r| ra.contains(r)));
                }
                prop_assert!(ga.environment == Environment::Live || ga.environment == gb.environment);
                if gb.covers(&gc).is_ok() {
                    prop_assert!(ga.covers(&gc).is_ok());
                }
            }
        }
    }
}
