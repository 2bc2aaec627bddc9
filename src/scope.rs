//! Scopes, scope sets and the rules by which one scope implies another.
//!
//! Issuers spell scopes three ways (`scopes` as a JSON list, `scope` as a space-separated
//! string, `scp` as either); [`Claims`](crate::Claims) turns all of them into one
//! [`ScopeSet`]. Matching is by whole scope and case-sensitive: `readwrite` never satisfies
//! `write`, and `*` is just a scope named `*`.
//!
//! Implication rules live in the set, so every check applies them the same way. permiso's
//! own rule, [`ScopeRules::permiso`], lets `admin:X` satisfy `read:X` and `write:X`:
//!
//! ```
//! use permiso::{ScopeRules, ScopeSet};
//!
//! let granted = ScopeSet::parse_space_separated("admin:transactions read:users")
//!     .with_rules(ScopeRules::permiso());
//! assert!(granted.satisfies("read:transactions"));
//! assert!(granted.satisfies("write:transactions"));
//! assert!(!granted.satisfies("write:users"));
//! ```

use std::fmt;
use std::sync::Arc;

/// Whether `s` is a valid scope token per RFC 6749 §3.3: one or more printable ASCII
/// characters other than space, `"` and `\`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// One implication rule: holding a scope that matches `grantor` satisfies a requirement that
/// matches one of `grants`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Implication {
    /// `<from><rest>` grants `<to><rest>` for each `to`, for any non-empty `rest`.
    Prefix { from: Box<str>, to: Vec<Box<str>> },
    /// The exact scope `from` grants each exact scope in `to`.
    Exact { from: Box<str>, to: Vec<Box<str>> },
}

/// Implication rules applied by a [`ScopeSet`] when a scope is required.
///
/// Rules are one step deep: a rule grants the scopes it names, never the scopes those would
/// grant in turn. That keeps every check a bounded lookup.
///
/// ```
/// use permiso::{ScopeRules, ScopeSet};
///
/// let rules = ScopeRules::none()
///     .prefix("manage:", ["read:", "write:"])
///     .exact("superuser", ["read:users", "write:users"]);
/// let set = ScopeSet::from_iter(["manage:orders", "superuser"]).with_rules(rules);
/// assert!(set.satisfies("write:orders"));
/// assert!(set.satisfies("read:users"));
/// assert!(!set.satisfies("delete:users"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ScopeRules {
    rules: Vec<Implication>,
}

impl ScopeRules {
    /// No implication: a requirement is met only by the scope itself.
    pub fn none() -> Self {
        Self::default()
    }

    /// permiso's rule: `admin:X` satisfies `read:X` and `write:X`.
    pub fn permiso() -> Self {
        Self::none().prefix("admin:", ["read:", "write:"])
    }

    /// Adds a prefix rule: a held scope `<from><rest>` satisfies `<to><rest>` for every `to`.
    ///
    /// `rest` must be non-empty, so `admin:` alone grants nothing.
    pub fn prefix<I, S>(mut self, from: &str, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rules.push(Implication::Prefix {
            from: from.into(),
            to: to.into_iter().map(|s| s.as_ref().into()).collect(),
        });
        self
    }

    /// Adds an exact rule: the held scope `from` satisfies each scope in `to`.
    pub fn exact<I, S>(mut self, from: &str, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rules.push(Implication::Exact {
            from: from.into(),
            to: to.into_iter().map(|s| s.as_ref().into()).collect(),
        });
        self
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether holding `held` satisfies `required` through one of the rules.
    fn implies(&self, held: &str, required: &str) -> bool {
        self.rules.iter().any(|rule| match rule {
            Implication::Exact { from, to } => &**from == held && to.iter().any(|t| &**t == required),
            Implication::Prefix { from, to } => match held.strip_prefix(&**from) {
                Some(rest) if !rest.is_empty() => to.iter().any(|t| {
                    required.len() == t.len() + rest.len()
                        && required.starts_with(&**t)
                        && required.ends_with(rest)
                }),
                _ => false,
            },
        })
    }
}

impl fmt::Debug for ScopeRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.rules).finish()
    }
}

/// The scopes a token grants, with the rules by which they imply others.
///
/// Built by the verifier from whichever claim the issuer used. Iterating yields the scopes
/// as granted (sorted, without duplicates); [`satisfies`](Self::satisfies) applies the rules.
///
/// ```
/// use permiso::ScopeSet;
///
/// let set = ScopeSet::from_iter(["write:transactions", "read:transactions"]);
/// assert_eq!(set.len(), 2);
/// assert!(set.contains("read:transactions"));
/// assert!(!set.satisfies("read"));
/// assert_eq!(set.iter().collect::<Vec<_>>(), ["read:transactions", "write:transactions"]);
/// ```
#[derive(Clone, Default)]
pub struct ScopeSet {
    /// Sorted, deduplicated, each a valid scope token.
    scopes: Vec<Box<str>>,
    rules: Option<Arc<ScopeRules>>,
}

impl ScopeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The heap this set holds, allocator overhead included (the rules are shared).
    pub(crate) fn memory_bytes(&self) -> usize {
        crate::heap::heap_vec::<Box<str>>(self.scopes.capacity())
            + self.scopes.iter().map(|s| crate::heap::heap_str(s.len())).sum::<usize>()
    }

    /// Parses an RFC 6749 space-separated scope string. Entries that are not valid scope
    /// tokens are dropped.
    ///
    /// ```
    /// let set = permiso::ScopeSet::parse_space_separated("  read:a   write:b ");
    /// assert_eq!(set.len(), 2);
    /// ```
    pub fn parse_space_separated(s: &str) -> Self {
        Self::from_iter(s.split(' '))
    }

    /// Attaches implication rules, replacing any already attached.
    #[must_use]
    pub fn with_rules(mut self, rules: impl Into<Arc<ScopeRules>>) -> Self {
        let rules = rules.into();
        self.rules = (!rules.is_empty()).then_some(rules);
        self
    }

    pub(crate) fn set_rules(&mut self, rules: Option<&Arc<ScopeRules>>) {
        self.rules = rules.filter(|r| !r.is_empty()).cloned();
    }

    pub(crate) fn push(&mut self, scope: &str) {
        if is_scope_token(scope) {
            self.scopes.push(scope.into());
        }
    }

    pub(crate) fn finish(&mut self) {
        self.scopes.sort_unstable();
        self.scopes.dedup();
    }

    /// Whether the scope was granted as such (no rules applied).
    pub fn contains(&self, scope: &str) -> bool {
        self.scopes.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// Whether a requirement for `required` is met: granted as such, or implied by a
    /// granted scope through the attached rules.
    pub fn satisfies(&self, required: &str) -> bool {
        self.contains(required)
            || self
                .rules
                .as_deref()
                .is_some_and(|rules| self.scopes.iter().any(|held| rules.implies(held, required)))
    }

    /// Whether every scope in `required` is satisfied.
    pub fn satisfies_all<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> bool {
        required.into_iter().all(|r| self.satisfies(r))
    }

    /// Whether at least one scope in `required` is satisfied.
    pub fn satisfies_any<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> bool {
        required.into_iter().any(|r| self.satisfies(r))
    }

    /// The granted scopes, sorted.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.scopes.iter().map(|s| &**s)
    }

    /// How many scopes were granted.
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether no scope was granted.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut set = Self::new();
        for s in iter {
            set.push(s.as_ref());
        }
        set.finish();
        set
    }
}

impl PartialEq for ScopeSet {
    fn eq(&self, other: &Self) -> bool {
        self.scopes == other.scopes
    }
}

impl Eq for ScopeSet {}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for ScopeSet {
    /// The scopes, space-separated, as in an RFC 6749 `scope` parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

/// A scope as a type: made by [`scopes!`](crate::scopes), used as
/// `RequireScopes<ReadTransactions>`.
pub trait ScopeMarker {
    /// The scope's name.
    const SCOPE: &'static str;
}

/// One scope marker or a tuple of them (up to eight): the scopes a route requires.
///
/// ```
/// use permiso::{Scopes, scopes};
///
/// scopes! {
///     pub ReadUsers = "read:users";
///     pub WriteTransactions = "write:transactions";
/// }
/// assert_eq!(<(ReadUsers, WriteTransactions)>::SCOPES, ["read:users", "write:transactions"]);
/// assert_eq!(ReadUsers::SCOPES, ["read:users"]);
/// ```
pub trait Scopes {
    /// The scopes, in declaration order.
    const SCOPES: &'static [&'static str];
}

impl<T: ScopeMarker> Scopes for T {
    const SCOPES: &'static [&'static str] = &[T::SCOPE];
}

macro_rules! tuple_scopes {
    ($($t:ident),+) => {
        impl<$($t: ScopeMarker),+> Scopes for ($($t,)+) {
            const SCOPES: &'static [&'static str] = &[$($t::SCOPE),+];
        }
    };
}

tuple_scopes!(A);
tuple_scopes!(A, B);
tuple_scopes!(A, B, C);
tuple_scopes!(A, B, C, D);
tuple_scopes!(A, B, C, D, E);
tuple_scopes!(A, B, C, D, E, F);
tuple_scopes!(A, B, C, D, E, F, G);
tuple_scopes!(A, B, C, D, E, F, G, H);

/// [`is_scope_token`] for constant evaluation: `scopes!` refuses invalid names at compile time.
#[doc(hidden)]
pub const fn valid_scope_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)) {
            return false;
        }
        i += 1;
    }
    true
}

/// Declares zero-sized scope marker types.
///
/// Each `Name = "scope";` becomes a unit struct implementing [`ScopeMarker`]. A name that is
/// not a valid RFC 6749 scope token (empty, spaces, quotes, backslash, non-ASCII) is a
/// compile error.
///
/// ```
/// permiso::scopes! {
///     /// Read any transaction.
///     pub ReadTransactions = "read:transactions";
///     pub(crate) AdminBilling = "admin:billing";
/// }
/// use permiso::ScopeMarker;
/// assert_eq!(ReadTransactions::SCOPE, "read:transactions");
/// ```
///
/// ```compile_fail
/// permiso::scopes! { pub Bad = "read users"; }
/// ```
#[macro_export]
macro_rules! scopes {
    ($($(#[$meta:meta])* $vis:vis $name:ident = $scope:literal;)*) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
            $vis struct $name;

            const _: () = assert!(
                $crate::__private::valid_scope_name($scope),
                concat!("not a valid scope name: ", $scope)
            );

            impl $crate::ScopeMarker for $name {
                const SCOPE: &'static str = $scope;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permiso(scopes: &[&str]) -> ScopeSet {
        ScopeSet::from_iter(scopes).with_rules(ScopeRules::permiso())
    }

    #[test]
    fn whole_scope_case_sensitive_matching() {
        let set = permiso(&["readwrite", "Read:users", "read:users-extra"]);
        assert!(!set.satisfies("write"));
        assert!(!set.satisfies("read"));
        assert!(!set.satisfies("read:users"));
        assert!(!set.satisfies("read:user"));
        assert!(set.satisfies("Read:users"));
    }

    #[test]
    fn admin_implies_read_and_write_of_the_same_resource_only() {
        let set = permiso(&["admin:transactions"]);
        assert!(set.satisfies("read:transactions"));
        assert!(set.satisfies("write:transactions"));
        assert!(set.satisfies("admin:transactions"));
        assert!(!set.satisfies("delete:transactions"));
        assert!(!set.satisfies("read:transaction"));
        assert!(!set.satisfies("read:transactionsx"));
        assert!(!set.satisfies("read:users"));
        // Implication is not applied without the rules.
        let plain = ScopeSet::from_iter(["admin:transactions"]);
        assert!(!plain.satisfies("read:transactions"));
    }

    #[test]
    fn admin_prefix_alone_grants_nothing() {
        let set = permiso(&["admin:"]);
        assert!(!set.satisfies("read:"));
        assert!(!set.satisfies("write:"));
    }

    #[test]
    fn wildcard_is_a_literal_scope() {
        let set = permiso(&["*", "admin:*"]);
        assert!(!set.satisfies("read:users"));
        assert!(set.satisfies("read:*"));
        assert!(set.satisfies("*"));
    }

    #[test]
    fn invalid_scope_tokens_are_dropped() {
        let set = ScopeSet::from_iter(["", "a b", "q\"uote", "back\\slash", "tab\t", "é", "ok"]);
        assert_eq!(set.iter().collect::<Vec<_>>(), ["ok"]);
    }

    #[test]
    fn space_separated_parsing_ignores_repeated_spaces_and_dedups() {
        let set = ScopeSet::parse_space_separated(" b  a b ");
        assert_eq!(set.to_string(), "a b");
    }

    #[test]
    fn const_validation_matches_runtime_validation() {
        for s in ["", "a b", "q\"", "b\\", "é", "ok", "read:x", "*", "~!#[]"] {
            assert_eq!(valid_scope_name(s), is_scope_token(s), "{s:?}");
        }
    }

    #[test]
    fn all_and_any() {
        let set = permiso(&["read:a", "admin:b"]);
        assert!(set.satisfies_all(["read:a", "write:b"]));
        assert!(!set.satisfies_all(["read:a", "write:c"]));
        assert!(set.satisfies_any(["write:c", "read:b"]));
        assert!(!set.satisfies_any(["write:c", "read:c"]));
        assert!(set.satisfies_all([]));
        assert!(!set.satisfies_any([]));
    }
}
