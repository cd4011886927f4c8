//! A set of scopes as a bitset over the catalog's index: the form scope sets take
//! on the hot path. Names live in the [`Catalog`](crate::Catalog), at the edges.

use std::fmt;

/// Index of a scope in its [`Catalog`](crate::Catalog).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ScopeId(pub(crate) u32);

impl ScopeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A set of [`ScopeId`]s. Equality ignores capacity: two sets with the same
/// members are equal whatever catalog size they were built for.
#[derive(Clone, Default)]
pub struct ScopeSet {
    words: Vec<u64>,
}

impl ScopeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for `len` scopes, so that inserting never reallocates.
    pub fn with_capacity(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub fn insert(&mut self, id: ScopeId) {
        let (w, bit) = (id.index() / 64, id.index() % 64);
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << bit;
    }

    pub fn remove(&mut self, id: ScopeId) {
        if let Some(word) = self.words.get_mut(id.index() / 64) {
            *word &= !(1 << (id.index() % 64));
        }
    }

    pub fn contains(&self, id: ScopeId) -> bool {
        self.words
            .get(id.index() / 64)
            .is_some_and(|w| w & (1 << (id.index() % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn union_with(&mut self, other: &ScopeSet) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    pub fn intersect_with(&mut self, other: &ScopeSet) {
        for (i, a) in self.words.iter_mut().enumerate() {
            *a &= other.words.get(i).copied().unwrap_or(0);
        }
    }

    pub fn difference_with(&mut self, other: &ScopeSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !b;
        }
    }

    pub fn intersects(&self, other: &ScopeSet) -> bool {
        self.words.iter().zip(&other.words).any(|(a, b)| a & b != 0)
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.words
            .iter()
            .enumerate()
            .all(|(i, &a)| a & !other.words.get(i).copied().unwrap_or(0) == 0)
    }

    /// Members in index order (the catalog's declaration order).
    pub fn iter(&self) -> impl Iterator<Item = ScopeId> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    ScopeId((w * 64) as u32 + bit)
                })
            })
        })
    }
}

impl PartialEq for ScopeSet {
    fn eq(&self, other: &Self) -> bool {
        let n = self.words.len().max(other.words.len());
        (0..n).all(|i| self.words.get(i).unwrap_or(&0) == other.words.get(i).unwrap_or(&0))
    }
}

impl Eq for ScopeSet {}

impl FromIterator<ScopeId> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = ScopeId>>(iter: I) -> Self {
        let mut set = ScopeSet::new();
        for id in iter {
            set.insert(id);
        }
        set
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|id| id.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u32]) -> ScopeSet {
        ids.iter().map(|&i| ScopeId(i)).collect()
    }

    #[test]
    fn equality_ignores_capacity() {
        let mut a = ScopeSet::with_capacity(1000);
        a.insert(ScopeId(3));
        assert_eq!(a, set(&[3]));
        a.remove(ScopeId(3));
        assert_eq!(a, ScopeSet::new());
    }

    #[test]
    fn set_operations_cross_word_boundaries() {
        let a = set(&[1, 63, 64, 200]);
        let b = set(&[64, 200]);
        assert!(b.is_subset(&a));
        assert!(!a.is_subset(&b));
        assert!(a.intersects(&b));
        assert_eq!(a.iter().map(|i| i.0).collect::<Vec<_>>(), vec![1, 63, 64, 200]);
        let mut d = a.clone();
        d.difference_with(&b);
        assert_eq!(d, set(&[1, 63]));
        let mut i = a.clone();
        i.intersect_with(&set(&[63, 64]));
        assert_eq!(i, set(&[63, 64]));
        assert_eq!(a.len(), 4);
    }
}
