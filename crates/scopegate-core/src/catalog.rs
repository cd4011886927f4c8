//! The scope catalog: every declared scope, its attributes and the implication
//! graph, with each scope's closure precomputed so that closing a set is a few ORs.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::scope::ScopeToken;
use crate::scopeset::{ScopeId, ScopeSet};

/// The kind of token a grant mints (docs/policy.md): `client_credentials` gives
/// app tokens, `authorization_code` user tokens. A refresh keeps the kind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum GrantKind {
    ClientCredentials,
    AuthorizationCode,
}

impl GrantKind {
    pub const ALL: [GrantKind; 2] = [GrantKind::ClientCredentials, GrantKind::AuthorizationCode];

    /// The RFC 6749 `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::ClientCredentials => "client_credentials",
            GrantKind::AuthorizationCode => "authorization_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// What users call the tokens of this kind.
    pub fn token_kind(self) -> &'static str {
        match self {
            GrantKind::ClientCredentials => "app tokens",
            GrantKind::AuthorizationCode => "user tokens",
        }
    }
}

impl fmt::Display for GrantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One declared scope and the attributes the token server honours.
#[derive(Clone, Debug)]
pub struct ScopeInfo {
    pub name: ScopeToken,
    pub description: Option<String>,
    /// Grants that may carry this scope; never empty.
    pub grants: Vec<GrantKind>,
    /// Environments in which the scope is available; never empty.
    pub environments: Vec<String>,
    pub requires_permissions: Vec<String>,
    pub no_expiry: bool,
    /// App developers request it in the portal; an administrator grants it.
    /// True of a scope declared so and of every scope that implies one
    /// (holding it would hold the gated one without approval).
    pub requires_approval: bool,
    /// For a scope gated only because it implies a gated one: that one.
    pub approval_through: Option<ScopeId>,
    pub max_lifetime: Option<Duration>,
    /// Scopes this one implies directly (levels below it, `implies`).
    pub implies: Vec<ScopeId>,
    /// Line of the declaring `name` key in the policy file.
    pub line: usize,
}

impl ScopeInfo {
    pub fn allows_grant(&self, grant: GrantKind) -> bool {
        self.grants.contains(&grant)
    }

    pub fn available_in(&self, environment: &str) -> bool {
        self.environments.iter().any(|e| e == environment)
    }
}

/// A scope set closed under implication: what a caller really holds.
/// Only the catalog builds one, so a `Held` is closed by construction.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Held(ScopeSet);

impl Held {
    pub fn set(&self) -> &ScopeSet {
        &self.0
    }

    pub fn contains(&self, id: ScopeId) -> bool {
        self.0.contains(id)
    }
}

/// Asked for a scope the caller does not hold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NotHeld(pub ScopeSet);

#[derive(Debug)]
pub struct Catalog {
    scopes: Vec<ScopeInfo>,
    by_name: HashMap<Box<str>, ScopeId>,
    /// `closure[i]` = scope i and everything it implies, transitively.
    closure: Vec<ScopeSet>,
    /// `implied_by[i]` = every scope whose closure holds i (i included).
    implied_by: Vec<ScopeSet>,
}

impl Catalog {
    /// Builds the catalog. `scopes` must have unique names and an acyclic
    /// `implies` graph; [`crate::policy`] checks both before calling this.
    pub(crate) fn new(scopes: Vec<ScopeInfo>) -> Self {
        let by_name = scopes
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str().into(), ScopeId(i as u32)))
            .collect();
        let n = scopes.len();
        let mut closure: Vec<Option<ScopeSet>> = vec![None; n];
        for i in 0..n {
            Self::close_one(&scopes, &mut closure, i, n);
        }
        let closure: Vec<ScopeSet> = closure.into_iter().map(Option::unwrap_or_default).collect();
        let mut implied_by = vec![ScopeSet::with_capacity(n); n];
        for (i, c) in closure.iter().enumerate() {
            for j in c.iter() {
                implied_by[j.index()].insert(ScopeId(i as u32));
            }
        }
        let mut scopes = scopes;
        for (i, c) in closure.iter().enumerate() {
            if scopes[i].requires_approval {
                continue;
            }
            if let Some(gated) = c.iter().find(|j| scopes[j.index()].requires_approval) {
                scopes[i].requires_approval = true;
                scopes[i].approval_through = Some(gated);
            }
        }
        Self {
            scopes,
            by_name,
            closure,
            implied_by,
        }
    }

    fn close_one(scopes: &[ScopeInfo], memo: &mut [Option<ScopeSet>], i: usize, n: usize) {
        if memo[i].is_some() {
            return;
        }
        let mut set = ScopeSet::with_capacity(n);
        set.insert(ScopeId(i as u32));
        for &j in &scopes[i].implies {
            Self::close_one(scopes, memo, j.index(), n);
            if let Some(sub) = &memo[j.index()] {
                set.union_with(sub);
            }
        }
        memo[i] = Some(set);
    }

    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    pub fn lookup(&self, name: &str) -> Option<ScopeId> {
        self.by_name.get(name).copied()
    }

    pub fn info(&self, id: ScopeId) -> &ScopeInfo {
        &self.scopes[id.index()]
    }

    pub fn name(&self, id: ScopeId) -> &str {
        self.scopes[id.index()].name.as_str()
    }

    pub fn iter(&self) -> impl Iterator<Item = (ScopeId, &ScopeInfo)> {
        self.scopes.iter().enumerate().map(|(i, s)| (ScopeId(i as u32), s))
    }

    /// `id` and everything it implies.
    pub fn closure_of(&self, id: ScopeId) -> &ScopeSet {
        &self.closure[id.index()]
    }

    /// Every scope that implies `id`, `id` included.
    pub fn implied_by(&self, id: ScopeId) -> &ScopeSet {
        &self.implied_by[id.index()]
    }

    pub fn empty_set(&self) -> ScopeSet {
        ScopeSet::with_capacity(self.len())
    }

    /// Parses a scope list in either spelling; every name must be declared.
    pub fn parse_list(&self, list: &str) -> Result<ScopeSet, UndeclaredScope> {
        let mut set = self.empty_set();
        for name in crate::scope::split_scope_list(list) {
            set.insert(self.lookup(name).ok_or_else(|| UndeclaredScope(name.to_owned()))?);
        }
        Ok(set)
    }

    /// The scopes of a stored list that this catalog declares. A name it no
    /// longer declares (the policy was reloaded without it) is skipped: such a
    /// scope simply no longer counts.
    pub fn known(&self, list: &str) -> ScopeSet {
        let mut set = self.empty_set();
        for id in crate::scope::split_scope_list(list).filter_map(|name| self.lookup(name)) {
            set.insert(id);
        }
        set
    }

    /// The first of an app's default scopes that its assigned scopes do not
    /// imply. Default scopes are what a token gets when none are asked for,
    /// so they must be among what the assignment grants, closed under
    /// implication like every other use of it (`account:write` assigned
    /// lets `account:read` be a default).
    pub fn first_default_not_assigned(&self, assigned: &ScopeSet, defaults: &ScopeSet) -> Option<ScopeId> {
        let implied = self.close(assigned);
        defaults.iter().find(|&id| !implied.contains(id))
    }

    /// Closes `set` under implication.
    pub fn close(&self, set: &ScopeSet) -> Held {
        let mut held = self.empty_set();
        for id in set.iter() {
            held.union_with(&self.closure[id.index()]);
        }
        Held(held)
    }

    /// The part of `held` that `keep` accepts, still closed under implication:
    /// a scope that implies a dropped one is dropped too, so that losing
    /// `read_orders` also loses `orders`. Deny by default.
    pub fn restrict(&self, held: &Held, keep: impl Fn(ScopeId) -> bool) -> Held {
        let mut kept = held.0.clone();
        for id in held.0.iter() {
            if !keep(id) {
                kept.remove(id);
            }
        }
        loop {
            let before = kept.len();
            let snapshot = kept.clone();
            for id in snapshot.iter() {
                if !self.closure[id.index()].is_subset(&snapshot) {
                    kept.remove(id);
                }
            }
            if kept.len() == before {
                return Held(kept);
            }
        }
    }

    /// Drops every member that another member implies (`orders read_orders`
    /// becomes `orders`). The result has the same closure as `set`.
    pub fn normalize(&self, set: &ScopeSet) -> ScopeSet {
        let mut out = set.clone();
        for id in set.iter() {
            let implied_by_other = set
                .iter()
                .any(|other| other != id && self.closure[other.index()].contains(id));
            if implied_by_other {
                out.remove(id);
            }
        }
        out
    }

    /// Narrows `held` to `requested` (the `X-OAuth-Scope` header, a refresh's
    /// `scope`): allowed only when every requested scope is already held.
    pub fn narrow(&self, held: &Held, requested: &ScopeSet) -> Result<Held, NotHeld> {
        if requested.is_subset(&held.0) {
            Ok(self.close(requested))
        } else {
            let mut missing = requested.clone();
            missing.difference_with(&held.0);
            Err(NotHeld(missing))
        }
    }

    /// Names of `set` in declaration order, space-separated (RFC 6749 `scope`).
    pub fn display(&self, set: &ScopeSet) -> String {
        self.names(set).collect::<Vec<_>>().join(" ")
    }

    /// A token's scope as a resource server is shown it: as stored
    /// (normalized), or with every implied scope listed too (`expanded`,
    /// for resource servers that compare scope strings).
    pub fn shown(&self, list: &str, expanded: bool) -> String {
        if expanded {
            self.display(self.close(&self.known(list)).set())
        } else {
            list.to_owned()
        }
    }

    pub fn names<'a>(&'a self, set: &'a ScopeSet) -> impl Iterator<Item = &'a str> + 'a {
        set.iter().map(|id| self.name(id))
    }
}

/// A scope name the policy does not declare.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("undeclared scope `{0}`")]
pub struct UndeclaredScope(pub String);
